package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/termtext"
)

// profileDB is the store flags every profile subcommand shares: the
// agent's store, or with --hub the hub's API (the fleet's merged
// profiles).
type profileDB struct {
	db, cfgPath               string
	hubURL, tokenFile, caFile string
	hub                       *profileHub // set by open with --hub
}

func (p *profileDB) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.db, "db", "", "alert store holding the profiles (default: store.path of the configuration)")
	cmd.Flags().StringVarP(&p.cfgPath, "config", "c", config.DefaultPath, "configuration file (for store.path)")
	cmd.Flags().StringVar(&p.hubURL, "hub", "", "the hub's API URL (https://HOST:8443): the fleet's merged profiles instead of the store")
	cmd.Flags().StringVar(&p.tokenFile, "token-file", "", "with --hub: file holding the hub's token (viewer; admin to accept)")
	cmd.Flags().StringVar(&p.caFile, "hub-ca", "", "with --hub: CA certificate (PEM) of the hub's API")
}

// open opens (creating or migrating) the store; with --hub it checks the
// hub's flags and returns no store.
func (p *profileDB) open() (*store.Store, error) {
	if p.hubURL != "" {
		h, err := newProfileHub(p.hubURL, p.tokenFile, p.caFile)
		if err != nil {
			return nil, err
		}
		p.hub = h
		return nil, nil
	}
	db := p.db
	if db == "" {
		c, err := config.Load(p.cfgPath)
		if err != nil {
			return nil, err
		}
		db = c.Store.Path
	}
	return store.Open(db, store.Options{})
}

// ref is a profile named on the command line: NAME, NAME@VERSION, or a
// file holding an exported profile.
func (p *profileDB) ref(ctx context.Context, st *store.Store, s string) (*profile.Profile, error) {
	if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
		data, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		return profile.Decode(data, s, profile.Limits{})
	}
	name, ver, hasVer := cutVersion(s)
	if p.hub != nil {
		pr, err := p.hub.get(ctx, name)
		if err == nil && hasVer && pr.Version != ver {
			return nil, fmt.Errorf("%s: the hub keeps the fleet's newest merge only (version %d)", s, pr.Version)
		}
		return pr, err
	}
	r, err := st.Profile(ctx, name, ver, !hasVer)
	if err != nil {
		return nil, err
	}
	return profile.Decode(r.Body, name+"@"+strconv.FormatUint(r.Version, 10), profile.Limits{})
}

// closeStore closes st unless nil (--hub).
func closeStore(st *store.Store) {
	if st != nil {
		st.Close()
	}
}

// cutVersion splits NAME@VERSION (a name holds no '@' followed by digits
// only).
func cutVersion(s string) (string, uint64, bool) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s, 0, false
	}
	v, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], v, true
}

func newProfileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Inspect, edit and use learned workload profiles",
		Long: `Learned workload profiles (profiles.enabled in the configuration; see docs/profiles.md): what each
workload ran, opened, connected to and listened on during its learning window. They live in the alert store
next to the alerts, every version kept; the agent puts versions written here (accept, import) in force
within profiles.sync_interval. NAME is a workload key such as image:docker.io/library/nginx; NAME@VERSION
names a version; a path names an exported profile file.`,
	}
	cmd.AddCommand(newProfileShowCmd(), newProfileDiffCmd(), newProfileExportCmd(), newProfileImportCmd(), newProfileAcceptCmd())
	cmd.AddCommand(newProfileLeastPrivCmds()...)
	return cmd
}

func newProfileShowCmd() *cobra.Command {
	var p profileDB
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show [NAME[@VERSION]|FILE]",
		Short: "List the profiles, or show one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			st, err := p.open()
			if err != nil {
				return err
			}
			defer closeStore(st)
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			if len(args) == 0 && p.hub != nil {
				rows, err := p.hub.list(ctx)
				if err != nil {
					return err
				}
				tw := termtext.NewTable(w, "NAME", "VERSION", "STATE", "HOSTS", "UPDATED")
				for _, r := range rows {
					tw.Row(r.Name, strconv.FormatUint(r.Version, 10), r.State, strings.Join(r.Hosts, ","), r.Updated.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			}
			if len(args) == 0 {
				rows, err := st.Profiles(ctx)
				if err != nil {
					return err
				}
				tw := termtext.NewTable(w, "NAME", "VERSION", "STATE", "UPDATED")
				for _, r := range rows {
					tw.Row(r.Name, strconv.FormatUint(r.Version, 10), r.State, r.Updated.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			}
			pr, err := p.ref(ctx, st, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				b, err := pr.MarshalJSON()
				if err != nil {
					return err
				}
				_, err = w.Write(append(b, '\n'))
				return err
			}
			fmt.Fprintf(w, "profile %s version %d %s (learned %s to %s; hosts %s)\n", termtext.String(pr.Name), pr.Version, pr.State,
				pr.LearnStart.UTC().Format(time.RFC3339), pr.LearnEnd.UTC().Format(time.RFC3339), termtext.String(strings.Join(pr.Hosts, ",")))
			for _, k := range profile.Kinds {
				items := pr.Items(k)
				over := ""
				if n := pr.Overflow(k); n > 0 {
					over = fmt.Sprintf(", %d not recorded (set full)", n)
				}
				fmt.Fprintf(w, "%s (%d%s)\n", k, len(items), over)
				for _, it := range items {
					fmt.Fprintf(w, "  %s\n", termtext.String(it))
				}
			}
			return nil
		},
	}
	p.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the profile's JSON document")
	return cmd
}

func newProfileDiffCmd() *cobra.Command {
	var p profileDB
	cmd := &cobra.Command{
		Use:   "diff A [B]",
		Short: "What B has that A has not (+) and the reverse (-); with one NAME, its previous version against the newest",
		Example: `  vigil profile diff image:web
  vigil profile diff image:web@1 image:web@3
  vigil profile diff image:web node-b-web.json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			st, err := p.open()
			if err != nil {
				return err
			}
			defer closeStore(st)
			var a, b *profile.Profile
			if len(args) == 1 && p.hub != nil {
				return errors.New("with --hub, name two profiles (the hub keeps the fleet's newest merge only): NAME and a file, or two names")
			}
			if len(args) == 1 {
				if b, err = p.ref(ctx, st, args[0]); err != nil {
					return err
				}
				vs, err := st.ProfileVersions(ctx, b.Name)
				if err != nil {
					return err
				}
				a = profile.New(b.Name, profile.Limits{}, b.LearnStart, 0)
				for i := len(vs) - 1; i >= 0; i-- {
					if vs[i].Version < b.Version {
						if a, err = p.ref(ctx, st, b.Name+"@"+strconv.FormatUint(vs[i].Version, 10)); err != nil {
							return err
						}
						break
					}
				}
			} else {
				if a, err = p.ref(ctx, st, args[0]); err != nil {
					return err
				}
				if b, err = p.ref(ctx, st, args[1]); err != nil {
					return err
				}
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			fmt.Fprintf(w, "--- %s@%d\n+++ %s@%d\n", termtext.String(a.Name), a.Version, termtext.String(b.Name), b.Version)
			for _, c := range profile.Diff(a, b) {
				fmt.Fprintln(w, termtext.String(c.String()))
			}
			return nil
		},
	}
	p.add(cmd)
	return cmd
}

func newProfileExportCmd() *cobra.Command {
	var p profileDB
	var out string
	cmd := &cobra.Command{
		Use:   "export NAME[@VERSION]",
		Short: "Write a profile's JSON document (to edit it, or import it on another host)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := p.open()
			if err != nil {
				return err
			}
			defer closeStore(st)
			pr, err := p.ref(context.Background(), st, args[0])
			if err != nil {
				return err
			}
			b, err := pr.MarshalJSON()
			if err != nil {
				return err
			}
			return writeOut(cmd.OutOrStdout(), out, append(b, '\n'))
		},
	}
	p.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file (created 0600, never through a symlink) instead of stdout")
	return cmd
}

// writeOut writes data to path (safefile) or, without one, to w.
func writeOut(w io.Writer, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := w.Write(data)
		return err
	}
	return safefile.WriteFile(path, data, 0o600)
}

// storeProfile writes pr as a new version of its name: one more than the
// newest stored (or pr's own, when greater).
func storeProfile(ctx context.Context, st *store.Store, pr *profile.Profile) error {
	if cur, err := st.Profile(ctx, pr.Name, 0, true); err == nil {
		pr.Version = max(pr.Version, cur.Version+1)
	} else if !errors.Is(err, store.ErrNoProfile) {
		return err
	}
	pr.Version = max(pr.Version, 1)
	pr.Updated = time.Now()
	body, err := pr.MarshalJSON()
	if err != nil {
		return err
	}
	return st.SaveProfile(ctx, store.ProfileRow{Name: pr.Name, Version: pr.Version, State: string(pr.State), Updated: pr.Updated, Body: body})
}

func newProfileImportCmd() *cobra.Command {
	var p profileDB
	var replace bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Merge exported profiles (other replicas', edited ones) into the stored ones, as new versions",
		Long: `Each file's profile is merged into the newest stored version of its name (the union of every set; see
docs/profiles.md) and stored as the next version; with --replace it replaces it instead (an edited profile
that removes behaviour). A file with an error is reported as file:line:col and nothing of it is stored.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			var ps []*profile.Profile
			for _, f := range args {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				pr, err := profile.Decode(data, f, profile.Limits{})
				if err != nil {
					return err
				}
				ps = append(ps, pr)
			}
			if p.hubURL != "" {
				return errors.New("import writes the agent's store; the hub's profiles come from its nodes (accept works with --hub)")
			}
			st, err := p.open()
			if err != nil {
				return err
			}
			defer closeStore(st)
			for _, pr := range ps {
				if !replace {
					if cur, err := p.ref(ctx, st, pr.Name); err == nil {
						cur.Merge(pr)
						pr = cur
					} else if !errors.Is(err, store.ErrNoProfile) {
						return err
					}
				}
				if err := storeProfile(ctx, st, pr); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d stored\n", termtext.String(pr.Name), pr.Version)
			}
			return nil
		},
	}
	p.add(cmd)
	cmd.Flags().BoolVar(&replace, "replace", false, "store each file as the new version instead of merging it")
	return cmd
}

func newProfileAcceptCmd() *cobra.Command {
	var p profileDB
	cmd := &cobra.Command{
		Use:   "accept ALERT-UUID | NAME KIND VALUE",
		Short: "Fold a deviation into its profile (a new version), so it no longer alerts",
		Example: `  vigil profile accept 0b6f3c9e-2a41-8d7e-9c1f-5e2d4a6b8c0d
  vigil profile accept image:web program "/bin/busybox (sh)"
  vigil profile accept image:web egress 10.0.0.7:5432/tcp`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 && len(args) != 3 {
				return errors.New("want an alert UUID, or NAME KIND VALUE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			st, err := p.open()
			if err != nil {
				return err
			}
			defer closeStore(st)
			name, kind, value := "", "", ""
			if len(args) == 3 {
				name, kind, value = args[0], args[1], args[2]
			} else {
				var body []byte
				if p.hub != nil {
					body, err = p.hub.alertBody(ctx, args[0])
				} else {
					body, err = st.AlertBody(ctx, args[0])
				}
				if err != nil {
					return err
				}
				var al struct {
					Rule   string         `json:"rule"`
					Fields map[string]any `json:"output_fields"`
				}
				if err := json.Unmarshal(body, &al); err != nil {
					return fmt.Errorf("alert %s: %w", args[0], err)
				}
				if al.Rule != profile.RuleDeviation {
					return fmt.Errorf("alert %s is a %q alert, not a %q one", args[0], al.Rule, profile.RuleDeviation)
				}
				name, _ = al.Fields[profile.FieldProfile].(string)
				kind, _ = al.Fields[profile.FieldKind].(string)
				value, _ = al.Fields[profile.FieldValue].(string)
			}
			k, err := profile.ParseKind(kind)
			if err != nil {
				return err
			}
			pr, err := p.ref(ctx, st, name)
			if err != nil {
				return err
			}
			it := profile.Item{Kind: k, Value: value}
			if has, err := pr.Has(it); err != nil {
				return err
			} else if has {
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d already has %s\n", termtext.String(pr.Name), pr.Version, termtext.String(it.String()))
				return nil
			}
			if p.hub != nil {
				if pr, err = p.hub.accept(ctx, name, it); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d on the hub: accepted %s (the agents take it)\n", termtext.String(pr.Name), pr.Version, termtext.String(it.String()))
				return nil
			}
			if err := pr.Add(it); err != nil {
				return err
			}
			if err := storeProfile(ctx, st, pr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d: accepted %s\n", termtext.String(pr.Name), pr.Version, termtext.String(it.String()))
			return nil
		},
	}
	p.add(cmd)
	return cmd
}

// newProfileOutputCmd builds a command that turns a profile into a
// least-privilege document.
func newProfileOutputCmd(use, short string, gen func(p *profile.Profile, names []string) ([]byte, error), withNames bool) *cobra.Command {
	var p profileDB
	var out string
	var names []string
	cmd := &cobra.Command{
		Use:   use + " NAME[@VERSION]|FILE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pr *profile.Profile
			if fi, err := os.Stat(args[0]); err == nil && fi.Mode().IsRegular() {
				pr, err = p.ref(context.Background(), nil, args[0])
				if err != nil {
					return err
				}
			} else {
				st, err := p.open()
				if err != nil {
					return err
				}
				defer closeStore(st)
				if pr, err = p.ref(context.Background(), st, args[0]); err != nil {
					return err
				}
			}
			data, err := gen(pr, names)
			if err != nil {
				return err
			}
			if len(data) > 0 && data[len(data)-1] != '\n' {
				data = append(data, '\n')
			}
			return writeOut(cmd.OutOrStdout(), out, data)
		},
	}
	p.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file (created 0600, never through a symlink) instead of stdout")
	if withNames {
		cmd.Flags().StringSliceVar(&names, "names", nil, "scope the policy to containers with these name globs instead of the profile's workload")
	}
	return cmd
}

func newProfileLeastPrivCmds() []*cobra.Command {
	return []*cobra.Command{
		newProfileOutputCmd("seccomp", "Write a seccomp profile (OCI/Docker JSON) allowing the profile's syscalls, EPERM for the others",
			func(p *profile.Profile, _ []string) ([]byte, error) { return profile.Seccomp(p) }, false),
		newProfileLandlockCmd(),
		newProfileOutputCmd("policy", "Write a Vigil prevention policy (allow-list mode) from the profile",
			func(p *profile.Profile, names []string) ([]byte, error) {
				return profile.Policy(p, profile.PolicyScope{Names: names})
			}, true),
	}
}

func newProfileLandlockCmd() *cobra.Command {
	cmd := newProfileOutputCmd("landlock", "Write a Landlock ruleset description (JSON) granting the profile's programs, files and TCP ports; with -- CMD, run CMD under it",
		func(p *profile.Profile, _ []string) ([]byte, error) { return profile.Landlock(p).JSON() }, false)
	cmd.Use = "landlock NAME[@VERSION]|FILE [-- CMD [ARG...]]"
	cmd.Args = cobra.MinimumNArgs(1)
	write := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dash := cmd.ArgsLenAtDash()
		if dash < 0 {
			if len(args) != 1 {
				return errors.New("want one profile (and -- CMD to run a command under it)")
			}
			return write(cmd, args)
		}
		if dash != 1 || len(args) < 2 {
			return errors.New("want one profile before -- and a command after it")
		}
		var buf strings.Builder
		cmd.SetOut(&buf)
		if err := write(cmd, args[:1]); err != nil {
			return err
		}
		var rs profile.LandlockRuleset
		if err := json.Unmarshal([]byte(buf.String()), &rs); err != nil {
			return err
		}
		argv := args[1:]
		if !strings.Contains(argv[0], "/") {
			path, err := exec.LookPath(argv[0])
			if err != nil {
				return err
			}
			argv[0] = path
		}
		return rs.ExecRestricted(argv)
	}
	return cmd
}
