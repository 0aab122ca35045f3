package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/posture/advise"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/safefile"
)

func newAdviseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "advise", Short: "Write least-privilege policies from recorded activity"}
	cmd.AddCommand(newAdviseNetpolCmd(), newAdvisePolicyCmd())
	return cmd
}

// newK8sAdviseCmd is `vigil k8s advise`, holding the Kubernetes advice
// (the same netpol command as `vigil advise netpol`).
func newK8sAdviseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "advise", Short: "Write least-privilege Kubernetes policies from recorded activity"}
	cmd.AddCommand(newAdviseNetpolCmd())
	return cmd
}

// outputFile opens -o (stdout when empty or "-"). finish is given the
// result of writing: on success it puts the file in place (atomically,
// replacing rather than following a symlink at path, mode 0600), on error
// it removes the partial file and returns the error.
func outputFile(cmd *cobra.Command, path string) (w io.Writer, finish func(error) error, err error) {
	if path == "" || path == "-" {
		return cmd.OutOrStdout(), func(err error) error { return err }, nil
	}
	f, err := safefile.Create(path, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, func(err error) error {
		if err != nil {
			f.Abort()
			return err
		}
		return f.Commit()
	}, nil
}

func newAdviseNetpolCmd() *cobra.Command {
	var from, conns, storePath, out string
	var manifests []string
	var noDeny bool
	cmd := &cobra.Command{
		Use:   "netpol (--from CAPTURE | --connections FILE) [--manifests PATH...]",
		Short: "Write NetworkPolicies that allow exactly the connections pods made",
		Long: `Write least-privilege NetworkPolicies from recorded connections between pods.

--from reads a capture of 'vigil trace --json' (connect and accept events with
pod context). --connections reads a JSON list of connections:
  [{"src": {"namespace": "shop", "labels": {"app": "web"}}, "dst": {"ip": "10.1.0.5"}, "port": 8080, "proto": "TCP"}]
--manifests (files, directories, kubectl get pods,svc -A -o yaml dumps) maps pod
and service addresses to pod labels, and service ports to target ports.

Each pod identity (namespace + labels, without pod-template-hash and the like)
gets a policy with an ingress rule per observed source and an egress rule per
observed destination; each namespace also gets a default deny unless
--no-default-deny.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if storePath != "" {
				return errors.New("advise netpol: --store: the alert store does not record connections yet; record a capture with 'vigil trace --json' and use --from")
			}
			if (from == "") == (conns == "") {
				return errors.New("advise netpol: give exactly one of --from or --connections")
			}
			var inv *manifest.Inventory
			if len(manifests) > 0 {
				var err error
				if inv, err = manifest.Load(manifests...); err != nil {
					return fmt.Errorf("advise netpol: %w", err)
				}
				for _, e := range inv.Errors {
					warn(cmd, fmt.Sprint(e))
				}
			}
			res := advise.NewResolver(inv)
			var list []advise.Connection
			var err error
			if from != "" {
				f, ferr := os.Open(from)
				if ferr != nil {
					return fmt.Errorf("advise netpol: %w", ferr)
				}
				defer f.Close()
				list, err = advise.FromCapture(f, from, res)
			} else {
				f, ferr := os.Open(conns)
				if ferr != nil {
					return fmt.Errorf("advise netpol: %w", ferr)
				}
				defer f.Close()
				list, err = advise.ReadConnections(f, res)
			}
			if err != nil {
				return fmt.Errorf("advise netpol: %w", err)
			}
			unresolved := 0
			for _, c := range list {
				if !c.Src.IsPod() && !c.Dst.IsPod() {
					unresolved++
				}
			}
			if unresolved > 0 {
				note(cmd, fmt.Sprintf("%d connection(s) have no pod at either end and were ignored", unresolved))
			}
			pols := advise.NetworkPolicies(list, &advise.Options{NoDefaultDeny: noDeny})
			w, finish, err := outputFile(cmd, out)
			if err != nil {
				return fmt.Errorf("advise netpol: %w", err)
			}
			return finish(advise.WriteYAML(w, pols))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "capture file written by 'vigil trace --json'")
	cmd.Flags().StringVar(&conns, "connections", "", "JSON list of connections")
	cmd.Flags().StringVar(&storePath, "store", "", "alert store (not supported yet: it holds no connections)")
	cmd.Flags().StringSliceVar(&manifests, "manifests", nil, "manifests or kubectl dumps mapping pod/service IPs to labels")
	cmd.Flags().BoolVar(&noDeny, "no-default-deny", false, "do not add a default-deny policy per namespace")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

func newAdvisePolicyCmd() *cobra.Command {
	var from, container, name, out string
	var enforce bool
	cmd := &cobra.Command{
		Use:   "policy --from CAPTURE --container ID",
		Short: "Write a Vigil prevention policy allowing only what a container did in a capture",
		Long: `Write a Vigil prevention policy (see docs/policy.md) from what one container did
in a 'vigil trace --json' capture: the programs it executed, the directories it
wrote files in, the addresses and ports it connected to and the ports it bound.
Everything else is blocked. The policy is in audit mode unless --enforce.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || container == "" {
				return errors.New("advise policy: --from and --container are required")
			}
			f, err := os.Open(from)
			if err != nil {
				return fmt.Errorf("advise policy: %w", err)
			}
			defer f.Close()
			act, err := advise.Learn(f, from, container)
			if err != nil {
				return fmt.Errorf("advise policy: %w", err)
			}
			w, finish, err := outputFile(cmd, out)
			if err != nil {
				return fmt.Errorf("advise policy: %w", err)
			}
			return finish(act.WritePolicy(w, &advise.PolicyOptions{Enforce: enforce, Name: name, Source: from}))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "capture file written by 'vigil trace --json'")
	cmd.Flags().StringVar(&container, "container", "", "container id (or a prefix of it)")
	cmd.Flags().StringVar(&name, "name", "", "policy name (default learned-<container name>)")
	cmd.Flags().BoolVar(&enforce, "enforce", false, "write the policy in enforce mode instead of audit")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}
