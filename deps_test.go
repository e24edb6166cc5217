package rebound_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The core packages import only the standard library, so that a program
// importing them compiles nothing else.
func TestCoreImportsOnlyTheStandardLibrary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	allowed := map[string]bool{"github.com/rebound-go/rebound": true}
	for _, pkg := range []string{"github.com/rebound-go/rebound", "github.com/rebound-go/rebound/reboundhttp", "github.com/rebound-go/rebound/reboundsql"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep != pkg && !allowed[dep] {
				t.Errorf("%s depends on %s, which is not in the standard library", pkg, dep)
			}
		}
	}
}
