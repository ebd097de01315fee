package main

import "errors"

// Placeholder until the benchmark is built; delete this file when it is.
var benchScan = func([]string) error { return errors.New("scan benchmark not built yet") }
