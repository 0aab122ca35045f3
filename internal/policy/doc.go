// Package policy is Vigil's prevention policy language: it parses policy
// YAML into validated, kernel-independent specs (Policy) and matches a
// policy's scope against a container.
//
// A Policy is pure data: parsing never touches the kernel. Loading a policy
// into the kernel is the job of package enforce, which turns policies into a
// plan (maps and programs) and applies it.
//
// Errors in policy files are *Error values carrying file:line:col; they match
// ErrInvalid with errors.Is.
package policy
