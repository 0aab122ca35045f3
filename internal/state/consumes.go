package state

import "github.com/vigilsec/vigil/internal/event"

// Consumes is the set of event types Apply uses to keep the process and
// fd tables true: process lifecycle, credentials and working directory,
// and every event that creates, changes or closes an fd. A consumer that
// narrows the sensor's types (sensor.Interest) keeps these, or processes
// keep stale names and fds stale descriptions.
var Consumes = event.TypeSetOf(
	event.TypeExecve, event.TypeExecveat, event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3,
	event.TypeProcExit, event.TypeChdir, event.TypeFchdir, event.TypeUnshare, event.TypeSetns,
	event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat, event.TypeClose,
	event.TypeSocket, event.TypeConnect, event.TypeAccept, event.TypeAccept4, event.TypeBind, event.TypeListen,
	event.TypeDup, event.TypeDup2, event.TypeDup3, event.TypeMemfdCreate, event.TypeUserfaultfd, event.TypeBpf,
)
