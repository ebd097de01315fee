package main

// Commands not yet built. Each moves to its own file when implemented.

import (
	"context"
	"fmt"
)

func notYet(name string) func(context.Context, []string, stdio) int {
	return func(_ context.Context, _ []string, io stdio) int {
		fmt.Fprintf(io.Err, "veil %s: not available in this build\n", name)
		return 2
	}
}

var (
	cmdServe  = notYet("serve")
	cmdScan   = notYet("scan")
	cmdRules  = notYet("rules")
	cmdVault  = notYet("vault")
	cmdAgents = notYet("agents")
	cmdAudit  = notYet("audit")
	cmdDemo   = notYet("demo")
)
