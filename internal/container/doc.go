// Package container maps a process to the container it runs in and attaches
// the container's runtime metadata (image, labels, privileged flag, mounts,
// pod) to events.
//
// Three layers, each usable on its own:
//
//   - ParseCgroupPath turns a cgroup path of any common runtime layout
//     (Docker, containerd CRI, CRI-O, Podman, containerd namespaces as ctr
//     creates them, plain runc; cgroup v1 and v2, cgroupfs and systemd
//     drivers) into a runtime type and a full container id.
//   - CgroupMap maps a cgroup v2 id (the inode number of the cgroup directory,
//     what bpf_get_current_cgroup_id returns) to its path by walking the v2
//     tree, and a pid to its cgroup paths through /proc/PID/cgroup.
//   - Manager keeps a metadata cache filled by runtime clients (containerd,
//     Docker Engine API, CRI) that subscribe to container start events, so
//     that metadata is ready before a container's first exec. Resolve is the
//     event-path call: a cache hit allocates nothing.
//
// The Manager owns its runtime connections: Run(ctx) opens them and closes
// them before it returns, when ctx is done. There is nothing to Close. Containers returned by Resolve are
// immutable snapshots shared between events: callers must not modify them.
// When a runtime is absent, slow or restarting, Resolve returns a Container
// with the id and type parsed from the cgroup path and MetadataKnown false:
// fields are missing rather than wrong.
package container
