package pgtest

import (
	"os/exec"
	"strings"
	"testing"
)

// pgtest serves the tests of every layer, so it must import none of them:
// a store package's tests that used pgtest would otherwise depend on
// another state package.
func TestImportsNoReboundPackage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const self = "github.com/rebound-go/rebound/internal/pgtest"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", self, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && strings.HasPrefix(dep, "github.com/rebound-go/rebound") {
			t.Errorf("pgtest depends on %s", dep)
		}
	}
}

func TestSuffix(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := suffix()
		if len(s) != 12 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Fatalf("suffix() = %q; want 12 lowercase hex digits", s)
		}
		if seen[s] {
			t.Fatalf("suffix() repeated %q", s)
		}
		seen[s] = true
	}
}
