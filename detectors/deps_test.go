package detectors

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoForbiddenDependencies keeps dependencies pointing one way: the
// detectors package must not import net/http nor any other package of
// this module.
func TestNoForbiddenDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "net/http", strings.HasPrefix(dep, "net/http/"):
			t.Errorf("detectors depends on %s", dep)
		case strings.HasPrefix(dep, "github.com/veilproxy/veil/") && dep != "github.com/veilproxy/veil/detectors":
			t.Errorf("detectors depends on %s", dep)
		}
	}
}
