package container

import "strings"

// Runtime types, as reported in event.Container.Type.
const (
	TypeHost       = "host"
	TypeDocker     = "docker"
	TypeContainerd = "containerd"
	TypeCRIO       = "cri-o"
	TypePodman     = "podman"
	TypeRunc       = "runc"
	// TypeCRI is a Kubernetes container in a cgroupfs-driver layout
	// (/kubepods/<qos>/pod<uid>/<id>) whose runtime the path does not name.
	// The Manager replaces it with the runtime that knows the container.
	TypeCRI = "cri"
)

// PathInfo is what a cgroup path says about the container it belongs to.
type PathInfo struct {
	Type      string // one of the Type constants
	ID        string // full container id as found in the path
	Namespace string // containerd namespace for /<namespace>/<id> paths
	PodUID    string // pod uid from a kubepods path, "" when none
}

// ParseCgroupPath reports the container a cgroup path belongs to. ok is false
// for host cgroups, and for runtime monitor processes (CRI-O's and Podman's
// conmon), which run outside the container.
//
// Recognised layouts (v1 controller paths and v2 paths alike):
//
//	/system.slice/docker-<id>.scope            docker, systemd driver
//	/docker/<id>                               docker, cgroupfs driver
//	/kubepods.slice/.../cri-containerd-<id>.scope   containerd CRI, systemd
//	/kubepods/<qos>/pod<uid>/<id>              CRI, cgroupfs driver
//	/kubepods.slice/.../crio-<id>.scope        CRI-O (crio-conmon-<id> is not a container)
//	/machine.slice/libpod-<id>.scope           podman (libpod-conmon-<id> is not a container)
//	/<namespace>/<id>                          containerd (ctr run)
//	/<id>                                      runc run
//
// Ids in the ambiguous cgroupfs forms (/<ns>/<id>, /<id>, /docker/<id>,
// kubepods) must be 64 hex digits; runtimes that use other ids there are
// recognised by the Manager from the cgroup path the runtime reports.
// Segments below the container's own cgroup (a systemd inside the
// container, say) are ignored.
func ParseCgroupPath(path string) (info PathInfo, ok bool) {
	if len(path) < 2 || path[0] != '/' {
		return PathInfo{}, false
	}
	// Walk segments from the deepest to the root.
	end := len(path)
	for end > 0 {
		start := strings.LastIndexByte(path[:end], '/')
		seg := path[start+1 : end]
		parent := path[:max(start, 0)]
		if info, ok, stop := parseSegment(seg, parent); stop {
			return info, ok
		}
		if start < 0 {
			break
		}
		end = start
	}
	return PathInfo{}, false
}

// scopePrefixes are the systemd-driver unit names and the cgroupfs-driver
// directory names that carry a container id.
var scopePrefixes = [...]struct{ prefix, typ string }{
	{"docker-", TypeDocker},
	{"cri-containerd-", TypeContainerd},
	{"crio-", TypeCRIO},
	{"libpod-", TypePodman},
}

// parseSegment examines one path segment; parent is the path above it.
// stop reports that the walk ends here (a container or a conmon cgroup).
func parseSegment(seg, parent string) (info PathInfo, ok, stop bool) {
	if strings.HasPrefix(seg, "crio-conmon-") || strings.HasPrefix(seg, "libpod-conmon-") {
		return PathInfo{}, false, true
	}
	name := strings.TrimSuffix(seg, ".scope")
	for _, p := range scopePrefixes {
		if id, found := strings.CutPrefix(name, p.prefix); found && isHexID(id) {
			return PathInfo{Type: p.typ, ID: id, PodUID: podUIDFromPath(parent)}, true, true
		}
	}
	if !isHexID(seg) {
		return PathInfo{}, false, false
	}
	// A bare 64-hex segment: the parent tells the runtime.
	if parent == "" {
		return PathInfo{Type: TypeRunc, ID: seg}, true, true
	}
	pseg := parent[strings.LastIndexByte(parent, '/')+1:]
	switch {
	case pseg == "docker":
		return PathInfo{Type: TypeDocker, ID: seg}, true, true
	case pseg == "libpod_parent":
		return PathInfo{Type: TypePodman, ID: seg}, true, true
	case strings.Contains(parent, "kubepods"):
		return PathInfo{Type: TypeCRI, ID: seg, PodUID: podUIDFromPath(parent)}, true, true
	case strings.Count(parent, "/") == 1:
		return PathInfo{Type: TypeContainerd, ID: seg, Namespace: pseg}, true, true
	}
	// A 64-hex directory somewhere deeper (containerd under a slice,
	// nested runtimes): containerd names its cgroups /<namespace>/<id>.
	return PathInfo{Type: TypeContainerd, ID: seg, Namespace: pseg}, true, true
}

// isHexID reports whether s is a 64-digit lowercase hex container id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// podUIDFromPath extracts the pod uid from a kubepods path: the segment
// "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid>.slice" (systemd, with
// the uid's dashes written as underscores).
func podUIDFromPath(parent string) string {
	if !strings.Contains(parent, "kubepods") {
		return ""
	}
	seg := parent[strings.LastIndexByte(parent, '/')+1:]
	if uid, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(uid, "-pod")
		if i < 0 {
			return ""
		}
		return strings.ReplaceAll(uid[i+len("-pod"):], "_", "-")
	}
	if uid, ok := strings.CutPrefix(seg, "pod"); ok {
		return uid
	}
	return ""
}
