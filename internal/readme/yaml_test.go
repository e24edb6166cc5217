package readme_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rebound-go/rebound/internal/config"
)

// Every ```yaml block of the README is a configuration the relay accepts:
// it parses with no unknown key, and passes validation with the
// variables it names set.
func TestREADMEYAMLBlocksAreValidConfigurations(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	indent := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```yaml":
			cur, indent = &strings.Builder{}, line[:len(line)-len(strings.TrimLeft(line, " "))]
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(strings.TrimPrefix(line, indent) + "\n")
		}
	}
	if len(blocks) == 0 {
		t.Fatal("no yaml block in README.md (is the fence still ```yaml?)")
	}
	for i, b := range blocks {
		c, err := config.Parse(fmt.Sprintf("README.md yaml block %d", i+1), strings.NewReader(b))
		if err != nil {
			t.Errorf("%v\n%s", err, b)
			continue
		}
		// The variables a block names with env:VARIABLE are set; no
		// REBOUND_* variable is.
		getenv := func(k string) string {
			if strings.HasPrefix(k, "REBOUND_") {
				return ""
			}
			return "set"
		}
		if err := c.ApplyEnv(getenv); err != nil {
			t.Errorf("block %d: %v", i+1, err)
			continue
		}
		if err := c.Finish(); err != nil {
			t.Errorf("block %d: %v\n%s", i+1, err, b)
		}
	}
}
