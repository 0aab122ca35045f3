package sensor

// Objects returns the BPF objects embedded in the sensor, by file name, for
// `vigil version` (package buildinfo hashes them). The slices are shared:
// callers must not modify them.
func Objects() map[string][]byte {
	return map[string][]byte{"vigil_x86_bpfel.o": _VigilBytes, "empty_x86_bpfel.o": _EmptyBytes}
}
