// Command veil is a sidecar reverse proxy that masks card numbers and health
// identifiers in chat traffic and diverts the originals into an encrypted
// vault.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// stdio is what a command reads and writes, so tests can run commands in
// process.
type stdio struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
}

type command struct {
	run   func(ctx context.Context, args []string, io stdio) int
	usage string
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {cmdServe, "run the proxy: veil serve --config FILE"},
		"scan":    {cmdScan, "mask files or stdin: veil scan [--config FILE] [--jsonl] [--no-values] [FILE...]"},
		"rules":   {cmdRules, "list or test rules: veil rules list|test [--config FILE]"},
		"vault":   {cmdVault, "manage the vault: veil vault new-master-key|init|rotate-key|purge --config FILE"},
		"agents":  {cmdAgents, "manage agent accounts: veil agents add|list|remove NAME --config FILE"},
		"audit":   {cmdAudit, "check or export the audit trail: veil audit verify|export --config FILE"},
		"demo":    {cmdDemo, "try Veil with its embedded defaults, no config needed"},
		"version": {cmdVersion, "print the version"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io stdio) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.Err, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(io.Err, "veil: unknown command %q\n", args[0])
		usage(io.Err, cmds)
		return 2
	}
	return c.run(ctx, args[1:], io)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: veil COMMAND [ARGS]")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].usage)
	}
}

func cmdVersion(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintf(io.Out, "veil %s\n", version)
	return 0
}
