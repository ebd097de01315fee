package main

// notYet stands in for a command this build does not include yet.

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
