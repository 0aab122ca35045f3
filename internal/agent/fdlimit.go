package agent

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// fdReserve is the descriptors kept for everything but the HTTP endpoint:
// the sensor's BPF objects and ring buffer, enforcement, runtime clients,
// the store, outputs and /proc reads. The endpoint's connection cap comes
// on top, so a flood of connections cannot take descriptors these need.
const fdReserve = 2048

// fdBudget makes room for the reserve plus maxConns connections: it raises
// the soft RLIMIT_NOFILE to that if it is lower (never past the hard
// limit, never lowering it; Go raises it to the hard limit at start, so
// this matters when something lowered it). It returns the connection cap
// that fits: maxConns, or what the hard limit leaves after the reserve
// (at least 8).
func fdBudget(maxConns int, log *slog.Logger) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("RLIMIT_NOFILE unreadable; descriptors are not budgeted", "err", err)
		return maxConns
	}
	need := uint64(fdReserve + maxConns)
	if lim.Cur < need && lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = min(need, lim.Max)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise RLIMIT_NOFILE", "from", old, "to", lim.Cur, "err", err)
			lim.Cur = old
		} else {
			log.Info("raised RLIMIT_NOFILE", "from", old, "to", lim.Cur)
		}
	}
	if lim.Cur < need {
		fit := max(int(lim.Cur)-fdReserve, 8)
		if fit < maxConns {
			log.Warn("RLIMIT_NOFILE too low for http.max_connections plus the agent's reserve; lowering the cap",
				"limit", lim.Cur, "reserve", fdReserve, "max_connections", fit)
			return fit
		}
	}
	return maxConns
}
