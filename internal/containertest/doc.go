// Package containertest runs real containers for tests: a containerd
// daemon (started when none is running), a small OCI image built from the
// host's static busybox and imported into containerd, containers started
// through the containerd client with a chosen command, labels, privileged
// flag, mounts and network, and plain runc containers without containerd.
//
// Every helper gates itself with testkernel: without root or without the
// binaries it skips (or fails when VIGIL_REQUIRE_PRIVILEGED=1). Containers
// are removed by t.Cleanup. The containerd daemon a test starts is left
// running for the other test binaries of the same `go test ./...` run; its
// log is /tmp/vigil-containerd.log.
//
// Typical use:
//
//	env := containertest.New(t)
//	c := env.Run(t, containertest.Spec{Args: []string{"sh", "-c", "cat /etc/hostname"}})
//	code := c.Wait(t, 5*time.Second)
package containertest
