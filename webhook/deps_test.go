package webhook_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A receiver that only verifies signatures imports this package and must
// compile nothing of the outbox (or of any other state package): webhook
// depends on the standard library and, at most, the core and its HTTP
// adapter.
func TestImportsNoStatePackage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const self = "github.com/rebound-go/rebound/webhook"
	allowed := map[string]bool{
		self:                            true,
		"github.com/rebound-go/rebound": true,
		"github.com/rebound-go/rebound/reboundhttp": true,
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", self, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed[dep] {
			t.Errorf("webhook depends on %s; it may import only the standard library, rebound and reboundhttp", dep)
		}
	}
}
