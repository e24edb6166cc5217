package readme_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	// What the README's blocks import, built by go test itself (with its
	// flags, -race included), so that the go build below finds them in the
	// build cache instead of compiling them again.
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rebound-go/rebound"
	_ "github.com/rebound-go/rebound/alert"
	_ "github.com/rebound-go/rebound/outbox"
	_ "github.com/rebound-go/rebound/outbox/sqlite"
	_ "github.com/rebound-go/rebound/reboundhttp"
	_ "github.com/rebound-go/rebound/reboundprom"
)

// block is a ```go block of the README: its text and the README line of
// its first line.
type block struct {
	line int
	text string
}

// goBlocks returns the ```go blocks of the markdown file at path.
func goBlocks(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = &block{line: n + 1}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: a go block is never closed", cur.line-1)
	}
	return blocks, nil
}

// prelude declares what the README's fragments use without declaring it.
const prelude = `package main

import (
	"context"
	"log/slog"

	"github.com/rebound-go/rebound"
)

var (
	ctx    = context.Background()
	url    = "https://api.example.com/v1/user/7"
	id     = "7"
	logger = slog.Default()
	policy rebound.Policy
)

type User struct{ ID, Name string }

func fetchUser(ctx context.Context, id string) (User, error) { return User{ID: id}, nil }

func main() {}
`

// stdImports are the standard library packages a fragment may use without
// importing them, by the name it uses.
var stdImports = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "http": "net/http", "io": "io",
	"log": "log", "os": "os", "slog": "log/slog", "sql": "database/sql", "strings": "strings", "time": "time",
}

// importLines counts the lines of a fragment's leading import declarations
// (import "x", or import ( ... )) and blank lines.
func importLines(lines []string) int {
	inParen := false
	for n, line := range lines {
		l := strings.TrimSpace(line)
		switch {
		case inParen:
			inParen = l != ")"
		case strings.HasPrefix(l, "import ("):
			inParen = true
		case l != "" && !strings.HasPrefix(l, "import "):
			return n
		}
	}
	return len(lines)
}

// fragment wraps a README fragment into a Go file of package main, for the
// README's line b.line:
//
//   - the fragment's leading import declarations stay imports;
//   - the rest becomes the body of a function of its own;
//   - standard library packages it names (stdImports) are imported for it;
//   - the variables it declares at its top level may go unused;
//   - the names that prelude declares (ctx, url, id, logger, policy, User,
//     fetchUser) are in scope.
//
// A //line comment makes the compiler's errors name README.md lines.
func fragment(b block) ([]byte, error) {
	lines := strings.SplitAfter(b.text, "\n")
	n := importLines(lines)
	imports, stmts := strings.Join(lines[:n], ""), strings.Join(lines[n:], "")
	src := fmt.Sprintf("package main\n\n%s\nfunc readme%d() {\n%s}\n", imports, b.line, stmts)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "README.md", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("README.md:%d: the go block does not parse as imports then statements: %v", b.line, err)
	}
	have := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		have[p] = true
	}
	fn := f.Decls[len(f.Decls)-1].(*ast.FuncDecl)
	// The names the fragment declares, at its top level and below, so
	// that a local named like a package (a variable "sql") is not taken
	// for one.
	declared := map[string]bool{}
	var unused []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, e := range n.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						declared[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				declared[id.Name] = true
			}
		}
		return true
	})
	for _, st := range fn.Body.List {
		var names []*ast.Ident
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok {
						names = append(names, id)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, s := range gd.Specs {
					names = append(names, s.(*ast.ValueSpec).Names...)
				}
			}
		}
		for _, id := range names {
			if id.Name != "_" && !slices.Contains(unused, id.Name) {
				unused = append(unused, id.Name)
			}
		}
	}
	var extra []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && !declared[x.Name] {
				if p, ok := stdImports[x.Name]; ok && !have[p] {
					have[p] = true
					extra = append(extra, strconv.Quote(p))
				}
			}
		}
		return true
	})
	var tail strings.Builder
	for _, name := range unused {
		fmt.Fprintf(&tail, "\t_ = %s\n", name)
	}
	importExtra := ""
	if len(extra) > 0 {
		importExtra = "import (\n" + strings.Join(extra, "\n") + "\n)\n"
	}
	return fmt.Appendf(nil, "package main\n\n%s\n%s\nfunc readme%d() {\n//line README.md:%d\n%s%s}\n", imports, importExtra, b.line, b.line+n, stmts, tail.String()), nil
}

// goCmd runs the go command in dir with the test binary's -race setting, so
// that it uses the packages go test already built.
func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	if raceEnabled {
		args = slices.Insert(args, 1, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	return cmd
}

// program is a whole program of the README, built.
type program struct {
	line int    // of the README
	src  string // as written there
	bin  string // the executable
}

// built builds the README's blocks once per test process (go test -count
// runs the tests again, not the build); TestMain removes the executables.
var (
	built  = sync.OnceValues(buildBlocks)
	binDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBlocks writes the README's go blocks as packages, runs go vet on
// them all and builds the programs.
func buildBlocks() ([]program, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, errNoGo
	}
	blocks, err := goBlocks(filepath.Join("..", "..", "README.md"))
	if err != nil {
		return nil, err
	}
	if len(blocks) < 4 {
		return nil, fmt.Errorf("found %d go blocks in README.md; want at least 4 (is the fence still ```go?)", len(blocks))
	}
	// The packages live under testdata, which ./... patterns skip, so that
	// nothing else meets them while they exist.
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("testdata", "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	write := func(pkg, name string, src []byte) error {
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, pkg, name), src, 0o644)
	}
	if err := write("fragments", "prelude.go", []byte(prelude)); err != nil {
		return nil, err
	}
	var programs []program
	var mains []string
	for _, b := range blocks {
		if strings.HasPrefix(b.text, "package ") {
			pkg := fmt.Sprintf("program%d", b.line)
			if err := write(pkg, "main.go", fmt.Appendf(nil, "//line README.md:%d\n%s", b.line, b.text)); err != nil {
				return nil, err
			}
			programs = append(programs, program{line: b.line, src: b.text, bin: pkg})
			mains = append(mains, "./"+pkg)
			continue
		}
		src, err := fragment(b)
		if err != nil {
			return nil, err
		}
		if err := write("fragments", fmt.Sprintf("block%d.go", b.line), src); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// go vet type-checks every package, as the compiler would, then vets.
	if out, err := goCmd(ctx, dir, append([]string{"vet", "./fragments"}, mains...)...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go vet of the README's go blocks: %v\n%s", err, out)
	}
	if binDir, err = os.MkdirTemp("", "readme-bin-"); err != nil {
		return nil, err
	}
	if len(mains) > 0 {
		if out, err := goCmd(ctx, dir, append([]string{"build", "-o", binDir + string(filepath.Separator)}, mains...)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build of the README's programs: %v\n%s", err, out)
		}
	}
	for i := range programs {
		programs[i].bin = filepath.Join(binDir, programs[i].bin)
	}
	return programs, nil
}

var errNoGo = errors.New("the go command is not on PATH")

// Every go block of the README compiles and passes go vet: a block that
// begins with "package" is a program of its own; any other is a fragment,
// wrapped as fragment says.
func TestREADMEGoBlocksCompile(t *testing.T) {
	if _, err := built(); err == errNoGo {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// Every whole program of the README runs, in an empty directory, and
// exits 0; the outbox quick start delivers its message to its receiver.
func TestREADMEProgramsRun(t *testing.T) {
	programs, err := built()
	if err == errNoGo {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	quickStart := false
	for _, p := range programs {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		run := exec.CommandContext(ctx, p.bin)
		run.Dir = t.TempDir()
		var stdout, stderr bytes.Buffer
		run.Stdout, run.Stderr = &stdout, &stderr
		err := run.Run()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d: the program failed: %v\nstdout:\n%s\nstderr:\n%s", p.line, err, &stdout, &stderr)
		}
		if strings.Contains(p.src, "outbox.NewRelay") {
			quickStart = true
			const want = `delivered {"type":"order.created","order":1}` + "\n"
			if stdout.String() != want {
				t.Fatalf("README.md:%d: the outbox quick start printed %q; want %q (stderr %s)", p.line, &stdout, want, &stderr)
			}
		}
	}
	if !quickStart {
		t.Fatal("README.md has no outbox quick start (a program that calls outbox.NewRelay)")
	}
}
