package enforce

import "unsafe"

const sizeofDecision = unsafe.Sizeof(enforceDecision{})

// decodeDecision copies a ring buffer sample into d without reflection.
func decodeDecision(sample []byte, d *enforceDecision) {
	copy(unsafe.Slice((*byte)(unsafe.Pointer(d)), sizeofDecision), sample)
}
