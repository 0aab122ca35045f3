// Package profile learns what each workload does and notices when it
// does something new.
//
// A Profile is the behaviour of one workload (a container image, or the
// value of a pod label such as app; see KeyBy): programs executed
// (resolved path, and the name run by), files opened for reading and for
// writing under chosen roots, network peers (egress: connected to;
// ingress: accepted from), listening ports, system calls, effective
// capabilities at exec and user ids. Every set is bounded (Limits); what
// does not fit is counted (Profile.Overflow), never silently dropped.
//
// Life: a workload's profile is created at its first event in the
// Learning state; during the learning window (Options.Window, from that
// first event) its behaviour is recorded. When the window closes the
// profile becomes version 1 and Monitoring; from then on new behaviour of
// the DeviationKinds (program, egress peer, listening port, write to a
// path, syscall) raises a deviation alert (rule RuleDeviation, built with
// engine.EventAlert, the one constructor of alerts about an event) naming
// the profile and the behaviour, once per behaviour, rate limited per
// profile. Accepting a behaviour (vigil profile accept) adds it to a new
// version of the profile; Learner.Load puts it in force.
//
// Containers not described yet: a container's workload key needs its
// runtime's description (Docker gives it once the start returns), so its
// events before that are held, bounded and counted (Options.Pending*),
// and recorded once an event comes with the description or Tick finds it
// (SetResolver). The runtime's own events (runc's init stages and
// re-exec, shims, pod sandboxes) are never learned as the workload's.
//
// Versions and merging: every published state of a profile has a version
// (learning is version 0, the end of the window 1, each accept, import or
// merge one more). Merge is the union of two profiles (replicas of one
// workload on several hosts), its version one more than the greater of
// the two.
//
// Concurrency and ownership: the pipeline calls Learner.Observe on its
// event goroutine; Load, Snapshot, Tick, Profiles and Stats may be called
// from any goroutine. The Learner owns its profiles and hands out clones.
// Storage is the caller's (the agent keeps profiles in the alert store,
// internal/store); the JSON document (MarshalJSON, Decode) is the form
// they are stored, exported and imported in.
//
// Least-privilege output (Seccomp, Landlock, Policy) turns a profile into
// a seccomp profile, a Landlock ruleset and a Vigil prevention policy.
package profile
