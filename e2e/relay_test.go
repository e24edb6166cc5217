package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// adminToken is the relay's admin token in these tests.
const adminToken = "admin-token-0123456789abcdef"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// reboundBinary builds cmd/rebound from the module above once per test
// run, with that module's own go.mod, as a user builds it; or returns
// REBOUND_TEST_BINARY when that names one already built.
func reboundBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("REBOUND_TEST_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err == nil {
			_, err = os.Stat(filepath.Join(root, "cmd", "rebound"))
		}
		if err != nil {
			buildErr = fmt.Errorf("finding the rebound module above e2e: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "rebound-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "rebound")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/rebound")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/rebound: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// syncBuffer collects a relay's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// relay is `rebound relay` running in its own process.
type relay struct {
	url string // http://host:port of its API and status page
	log *syncBuffer
}

// startRelay writes config (YAML) to a file, runs `rebound relay --config`
// on it with env added to an environment rid of every REBOUND_* variable,
// and returns once /readyz answers 200. The config must set log.format
// json and listen; the address the relay listens on is read from its log.
// At cleanup the relay gets SIGINT and must exit 0.
func startRelay(t *testing.T, config string, env ...string) *relay {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rebound.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(reboundBinary(t), "relay", "--config", path)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REBOUND_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	r := &relay{log: &syncBuffer{}}
	cmd.Stdout = r.log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listen := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		r.readLog(stderr, listen)
		exited <- cmd.Wait() // after the log is read to its end, as Wait wants
	}()
	var exitErr error
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case exitErr = <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				exitErr = fmt.Errorf("still running 30 s after SIGINT (killed): %v", <-exited)
			}
		}
		if exitErr != nil {
			t.Errorf("rebound relay: %v; want exit status 0 after SIGINT", exitErr)
		}
		if t.Failed() {
			t.Logf("relay log (last 8 KiB):\n%s", tail(r.log.String(), 8<<10))
		}
	})
	select {
	case addr := <-listen:
		r.url = "http://" + addr
	case exitErr = <-exited:
		stopped = true
		t.Fatalf("rebound relay exited before listening: %v", exitErr)
	case <-time.After(30 * time.Second):
		t.Fatal("rebound relay did not listen within 30 s")
	}
	for i := 0; ; i++ {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if i == 300 {
			t.Fatalf("the relay was not ready after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readLog copies the relay's JSON log to r.log until it ends, and sends
// the address of its "rebound relay started" line to listen.
func (r *relay) readLog(stderr io.Reader, listen chan<- string) {
	br := bufio.NewReader(stderr)
	for {
		line, err := br.ReadBytes('\n')
		r.log.Write(line)
		var e struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(line, &e) == nil && e.Msg == "rebound relay started" {
			select {
			case listen <- e.Listen:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// call sends a request to the relay's API with the admin token and decodes
// the JSON answer.
func (r *relay) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: status %d, decoding the answer: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// enqueue enqueues one message through the API and returns its ID.
func (r *relay) enqueue(t *testing.T, destination, payload string) string {
	t.Helper()
	body := fmt.Sprintf(`{"destination":%q,"payload":%s}`, destination, payload)
	code, m := r.call(t, "POST", "/v1/messages", body)
	id, _ := m["id"].(string)
	if code != http.StatusAccepted || id == "" {
		t.Fatalf("enqueue %s: status %d %v; want 202 with an id", body, code, m)
	}
	return id
}

// state returns the message's state as the API reports it.
func (r *relay) state(t *testing.T, id string) string {
	t.Helper()
	_, m := r.call(t, "GET", "/v1/messages/"+id, "")
	s, _ := m["state"].(string)
	return s
}
