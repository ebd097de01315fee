package main

import "errors"

// Placeholder until the benchmark is built; delete this file when it is.
var benchProxy = func([]string) error { return errors.New("proxy benchmark not built yet") }
