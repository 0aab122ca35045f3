package enforce

import "golang.org/x/sys/unix"

func init() {
	openSyscalls[unix.SYS_OPEN] = flagsArg0 + 1
	openSyscalls[unix.SYS_CREAT] = flagsCreat
}
