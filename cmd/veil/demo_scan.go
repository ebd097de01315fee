package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/veilproxy/veil/detectors"
)

// runInteractiveScan lets a newcomer try the rules: each line typed is
// printed masked, followed by what was found (type, rule, byte offsets and
// action, never the value). It returns at the end of input.
func runInteractiveScan(ctx context.Context, io stdio, eng *detectors.Engine) int {
	fmt.Fprintln(io.Out, "Type a chat message and press Enter to see what Veil masks; end with Ctrl-D.")
	fmt.Fprintln(io.Out, "Try: my card is 4111 1111 1111 1111 and my Medicare number is 1EG4-TE5-MK73")
	sc := bufio.NewScanner(io.In)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for {
		fmt.Fprint(io.Out, "> ")
		if !sc.Scan() {
			break
		}
		if ctx.Err() != nil {
			return exitClean
		}
		masked, fs, err := eng.Redact(ctx, sc.Bytes(), detectors.RedactOptions{})
		if err != nil {
			fmt.Fprintf(io.Err, "veil: scanning: %v\n", err)
			return exitError
		}
		fmt.Fprintf(io.Out, "%s\n", masked)
		if len(fs) == 0 {
			fmt.Fprintln(io.Out, "  nothing found")
			continue
		}
		for _, f := range fs {
			fmt.Fprintf(io.Out, "  %-14s rule %-18s bytes %d-%d  %s\n", f.Type, f.Rule, f.Start, f.End, f.Action)
		}
	}
	fmt.Fprintln(io.Out)
	if err := sc.Err(); err != nil {
		fmt.Fprintf(io.Err, "veil: reading input: %v\n", err)
		return exitError
	}
	return exitClean
}
