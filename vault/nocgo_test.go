//go:build !cgo

package vault

import (
	"context"
	"strings"
	"testing"
)

const cgoEnabled = false

// TestOpenWithoutCgo runs with CGO_ENABLED=0: Open must say what is wrong.
func TestOpenWithoutCgo(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir(), testKey(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=1") {
		t.Fatalf("Open = %v, want an error naming CGO_ENABLED=1", err)
	}
}
