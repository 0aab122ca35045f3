package enforce

// Objects returns the BPF objects embedded in the enforcer, by file name,
// for `vigil version` (package buildinfo hashes them). The slices are
// shared: callers must not modify them.
func Objects() map[string][]byte {
	return map[string][]byte{"enforce_bpfel.o": _EnforceBytes}
}
