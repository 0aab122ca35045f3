// Package landlock is prevention's second path for files: it compiles a
// policy's file section into a Landlock ruleset (Compile) and restricts the
// calling thread with it (Ruleset.Restrict), which `vigil sandbox` does
// before it executes a container's program. The sandbox is the kernel's:
// it holds for that program and everything it starts, needs no agent and
// survives the agent's death, and cannot be lifted or loosened.
//
// Landlock only grants: a ruleset names the accesses it handles and the
// file hierarchies that keep them. Compile grants every hierarchy a
// section's first-match decision allows and leaves out what it denies,
// walking down the directories on the way to a denied path and granting
// each of their other entries (as they are when the sandbox is made:
// an entry created later in such a directory is denied the handled
// access). Reads map to LANDLOCK_ACCESS_FS_READ_FILE, writes to
// WRITE_FILE (and TRUNCATE where the kernel has it); a denied open fails
// with EACCES. A section in audit mode cannot be expressed (Landlock does
// not report); kill is enforced as block.
package landlock
