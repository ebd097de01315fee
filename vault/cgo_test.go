//go:build cgo

package vault

const cgoEnabled = true
