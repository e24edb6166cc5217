package rebound_test

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rebound-go/rebound"

// layering is docs/ARCHITECTURE.md's two tables: what each layer may
// import, and each package's layer and third-party modules.
type layering struct {
	mayImport  map[string]map[string]bool // layer → layers it may import
	layerOf    map[string]string          // package path relative to the module ("." for the root) → layer
	thirdParty map[string][]string        // package → module prefixes it may import
}

// readLayering parses the tables that follow the "layers" and "packages"
// markers in docs/ARCHITECTURE.md.
func readLayering(t *testing.T) layering {
	t.Helper()
	f, err := os.Open("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := layering{mayImport: map[string]map[string]bool{}, layerOf: map[string]string{}, thirdParty: map[string][]string{}}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "<!-- layers:"):
			table = "layers"
			continue
		case strings.HasPrefix(line, "<!-- packages:"):
			table = "packages"
			continue
		case !strings.HasPrefix(line, "|"):
			if line != "" {
				table = ""
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(cells[0], "---") || cells[0] == "layer" || cells[0] == "package" {
			continue
		}
		switch table {
		case "layers":
			may := map[string]bool{"support": cells[0] != "core"}
			switch cells[2] {
			case "nothing":
			case "everything", "everything above":
				may = nil
			default:
				for _, name := range strings.Split(cells[2], ",") {
					name = strings.TrimSpace(name)
					if name == "their own state package" {
						name = "own state"
					}
					may[name] = true
				}
			}
			l.mayImport[cells[0]] = may
		case "packages":
			pkg := strings.Trim(strings.Fields(cells[0])[0], "`")
			l.layerOf[pkg] = cells[1]
			if cells[2] != "—" {
				for _, m := range strings.Split(cells[2], ",") {
					l.thirdParty[pkg] = append(l.thirdParty[pkg], strings.TrimSpace(m))
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(l.mayImport) == 0 || len(l.layerOf) == 0 {
		t.Fatal("docs/ARCHITECTURE.md: the layers or packages table is missing or empty")
	}
	for pkg, layer := range l.layerOf {
		if _, ok := l.mayImport[layer]; !ok {
			t.Errorf("docs/ARCHITECTURE.md: package %s is in layer %q, which the layers table does not define", pkg, layer)
		}
	}
	return l
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// The packages import only what docs/ARCHITECTURE.md lets their layer
// import, and every package is placed there.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	l := readLayering(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		layer, ok := l.layerOf[pkg]
		if !ok {
			t.Errorf("package %s is not placed in docs/ARCHITECTURE.md: add it to the packages table with its layer", pkg)
			continue
		}
		may := l.mayImport[layer]
		for _, imp := range fields[1:] {
			if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				continue // the standard library
			}
			if !strings.HasPrefix(imp, module+"/") && imp != module {
				if !allowedThirdParty(l.thirdParty[pkg], imp) {
					t.Errorf("%s (%s) imports %s, which docs/ARCHITECTURE.md does not list among its third-party modules", pkg, layer, imp)
				}
				continue
			}
			dep := rel(imp)
			depLayer, ok := l.layerOf[dep]
			switch {
			case !ok:
				continue // reported as unplaced on its own line
			case may == nil: // everything
			case may[depLayer]:
			case may["own state"] && depLayer == "state" && strings.HasPrefix(pkg, dep+"/"):
			default:
				t.Errorf("%s (%s) imports %s (%s): docs/ARCHITECTURE.md does not let %s import %s", pkg, layer, dep, depLayer, layer, depLayer)
			}
		}
	}
}

func allowedThirdParty(modules []string, imp string) bool {
	for _, m := range modules {
		if imp == m || strings.HasPrefix(imp, m+"/") {
			return true
		}
	}
	return false
}

// dependencyBounds are promises some packages make beyond their layer, kept
// over everything they compile (go list -deps), not only what they import:
// the rebound packages allowed besides the package itself, and whether any
// module outside the standard library and rebound may appear.
var dependencyBounds = map[string]struct {
	rebound    []string
	thirdParty bool
}{
	// The core, and the adapters built on it, compile nothing else: a
	// program importing them pays for nothing more.
	".":               {},
	"internal/redact": {},
	"reboundhttp":     {rebound: []string{".", "internal/redact"}},
	"reboundsql":      {rebound: []string{"."}},
	"reboundnet":      {rebound: []string{".", "internal/startstop"}},
	// The gRPC adapter compiles grpc-go and protobuf, which a gRPC client
	// has already, and nothing else of rebound's than the core.
	"reboundgrpc": {rebound: []string{"."}, thirdParty: true},
	// A receiver that only verifies signatures compiles nothing of the
	// outbox, nor any other state package.
	"webhook": {rebound: []string{".", "internal/redact", "reboundhttp"}},
	// A program that counts retries compiles no outbox; the outbox's
	// collector is outbox/outboxprom.
	"reboundprom": {rebound: []string{".", "internal/endpoints"}, thirdParty: true},
	// Nor does a program that traces them: reboundotel reads attempts
	// from reboundhttp and nothing of the state packages.
	"reboundotel": {rebound: []string{".", "internal/endpoints", "internal/redact", "reboundhttp"}, thirdParty: true},
	// pgtest serves the tests of every layer, so it depends on none: a
	// store's tests that used it would otherwise pull in another state
	// package.
	"internal/pgtest": {thirdParty: true},
	// The fault kit users import into their own tests compiles the
	// standard library, the core and webhook (for its verifying
	// receiver), so that a test of a plain HTTP client pays for no outbox,
	// store or driver.
	"reboundtest": {rebound: []string{".", "webhook", "internal/redact", "reboundhttp"}},
}

func TestDependencyBounds(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	args := []string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}
	for pkg := range dependencyBounds {
		args = append(args, "./"+pkg)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		b := dependencyBounds[pkg]
		for _, dep := range fields[1:] {
			switch {
			case !strings.Contains(strings.SplitN(dep, "/", 2)[0], "."):
				// the standard library
			case dep == module || strings.HasPrefix(dep, module+"/"):
				if !slices.Contains(b.rebound, rel(dep)) {
					t.Errorf("%s depends on %s; layering_test.go's dependencyBounds let it depend on %v of rebound's packages only", pkg, rel(dep), b.rebound)
				}
			case !b.thirdParty:
				t.Errorf("%s depends on %s, which is not in the standard library or rebound", pkg, dep)
			}
		}
	}
}
