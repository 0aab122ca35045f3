package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/sensor"
)

// Runtime sockets probed by doctor (the container package owns the
// clients; doctor only checks that something answers).
var runtimeSockets = []struct{ name, path, consequence string }{
	{"containerd socket", "/run/containerd/containerd.sock", "containers started by containerd get no image/name metadata"},
	{"docker socket", "/var/run/docker.sock", "containers started by docker get no image/name metadata"},
}

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Probe what this host offers (kernel, BTF, tracefs, tracepoints, runtimes)",
		Long: `Probe what the sensor and the runtimes need, one line per probe, and for each missing thing
say what does not work. tracefs and bpffs are mounted when missing. Exits 1 when something the
sensor cannot run without is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := sensor.Probe()
			for _, rs := range runtimeSockets {
				fs = append(fs, probeSocket(rs.name, rs.path, rs.consequence))
			}
			w := cmd.OutOrStdout()
			failed := false
			for _, f := range fs {
				if f.OK {
					fmt.Fprintf(w, "ok    %-45s %s\n", f.Name, f.Detail)
					continue
				}
				mark := "MISS "
				if f.Required {
					mark = "FAIL "
					failed = true
				}
				fmt.Fprintf(w, "%s %-45s %s: %s\n", mark, f.Name, f.Detail, f.Consequence)
			}
			if failed {
				return withExitCode(1, errors.New("doctor: the sensor cannot run on this host (see FAIL lines)"))
			}
			return nil
		},
	}
}

func probeSocket(name, path, consequence string) sensor.Feature {
	f := sensor.Feature{Name: name, Consequence: consequence}
	if _, err := os.Stat(path); err != nil {
		f.Detail = path + ": not found"
		return f
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		f.Detail = fmt.Sprintf("%s: %v", path, err)
		return f
	}
	c.Close()
	f.OK, f.Detail = true, path+" answers"
	return f
}
