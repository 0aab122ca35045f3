package console_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/posture/audit"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/shareddata"
)

// auditGoat is `vigil k8s audit -f json` of the shared Kubernetes Goat
// manifests.
func auditGoat(t testing.TB) string {
	t.Helper()
	inv, err := manifest.Load(shareddata.KubernetesGoat(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := audit.Run(inv, nil).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type containerEnv struct{ env *containertest.Env }

func newContainerEnv(t testing.TB) *containerEnv {
	t.Helper()
	return &containerEnv{env: containertest.New(t)}
}

// podContainer is a running container labelled as pod ns/name's.
type podContainer struct {
	c  *containertest.Container
	id string
}

func (e *containerEnv) run(t testing.TB, ns, pod string) *podContainer {
	t.Helper()
	c := e.env.Run(t, containertest.Spec{Labels: containertest.PodLabels(ns, pod, "uid-"+pod, "app", nil)})
	return &podContainer{c: c, id: c.ID}
}

// exec runs args in the container and checks it succeeded.
func (p *podContainer) exec(t testing.TB, args ...string) {
	t.Helper()
	code, out := p.c.Exec(t, 10*time.Second, args...)
	if code != 0 {
		t.Fatalf("exec %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
}
