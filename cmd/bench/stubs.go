package main

import "errors"

// Benchmarks not yet written; each moves to its own file.
var (
	benchScan  = func([]string) error { return errors.New("scan benchmark not built yet") }
	benchProxy = func([]string) error { return errors.New("proxy benchmark not built yet") }
)
