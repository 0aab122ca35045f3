package state

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// maxCgroupSets bounds the distinct /proc/PID/cgroup contents whose parsed
// form is kept (processes of one container or service share one).
const maxCgroupSets = 1024

// cgroups returns the cgroups /proc/PID/cgroup content b lists, as Falco's
// scap_proc_fill_cgroups reads them: on a cgroup v1 host (hybrid ones
// included) one entry per controller of each v1 line (cpu,cpuacct:/x gives
// cpu=/x and cpuacct=/x; name=systemd kept as it is), the v2 line "0::"
// skipped; on a cgroup v2 host the unified path for Falco's default
// controllers cpu, memory and cpuset. Parsed sets are shared.
func (t *Table) cgroups(b []byte) []event.Cgroup {
	if cg, ok := t.cgroupSets[string(b)]; ok {
		return cg
	}
	cg := parseCgroups(string(b), t.cgroupVersion)
	if len(t.cgroupSets) >= maxCgroupSets {
		clear(t.cgroupSets)
	}
	t.cgroupSets[string(b)] = cg
	return cg
}

func parseCgroups(s string, version int) []event.Cgroup {
	var cg []event.Cgroup
	for _, line := range strings.Split(s, "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		subsys, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if subsys == "" {
			if version != 2 || id != "0" {
				continue
			}
			subsys = "cpu,memory,cpuset"
		}
		for _, c := range strings.Split(subsys, ",") {
			cg = append(cg, event.Cgroup{Subsys: c, Path: path})
		}
	}
	return cg
}
