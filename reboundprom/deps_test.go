package reboundprom_test

import (
	"os/exec"
	"strings"
	"testing"
)

// An observer imports the core and client_golang, never a state package:
// a program that counts retries compiles no outbox. The outbox's collector
// is outbox/outboxprom.
func TestImportsOnlyTheCoreAndClientGolang(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const self, core = "github.com/rebound-go/rebound/reboundprom", "github.com/rebound-go/rebound"
	out, err := exec.Command("go", "list", "-f", "{{range .Imports}}{{.}} {{end}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", self, err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && imp != core && !strings.HasPrefix(imp, "github.com/prometheus/") {
			t.Errorf("reboundprom imports %s; it may import only the standard library, the core and client_golang", imp)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", self, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && dep != core && strings.HasPrefix(dep, core+"/") {
			t.Errorf("reboundprom depends on %s, a package of this module other than the core", dep)
		}
	}
}
