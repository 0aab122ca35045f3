// Command vigil is Vigil's single binary: the agent, the tracer and the
// offline tools (rules, images, posture) as subcommands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(exitCode(err))
	}
}
