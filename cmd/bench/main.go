// Command bench measures Veil against its peers. It is a development tool,
// not shipped: `go run ./cmd/bench scan` and `go run ./cmd/bench proxy`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench scan|proxy [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "scan":
		err = benchScan(os.Args[2:])
	case "proxy":
		err = benchProxy(os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q (want scan or proxy)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
