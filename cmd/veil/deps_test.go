package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointOneWay keeps the package graph as DESIGN.md draws it:
// cmd → proxy, forms → detectors, vault. Lower packages never import upper
// ones, and the detectors stay free of networking.
func TestDependenciesPointOneWay(t *testing.T) {
	const mod = "github.com/veilproxy/veil/"
	forbidden := map[string][]string{
		"detectors":   {"proxy", "forms", "forms/agent", "vault", "web", "net/http"},
		"vault":       {"proxy", "forms", "forms/agent", "detectors", "web"},
		"web":         {"proxy", "forms", "forms/agent", "detectors", "vault"},
		"proxy":       {"forms", "forms/agent"},
		"forms":       {"proxy"},
		"forms/agent": {"proxy", "forms"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			deps[sc.Text()] = true
		}
		if len(deps) == 0 {
			t.Fatalf("go list printed nothing for %s", pkg)
		}
		for dep := range deps {
			if strings.HasPrefix(dep, mod+"cmd/") {
				t.Errorf("%s depends on command package %s", pkg, dep)
			}
		}
		for _, b := range bad {
			name := b
			if b != "net/http" {
				name = mod + b
			}
			if deps[name] {
				t.Errorf("%s depends on %s", pkg, name)
			}
		}
	}
}
