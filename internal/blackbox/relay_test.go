package blackbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// rebound builds the rebound binary once per test run, or returns
// REBOUND_TEST_BINARY when that names one already built.
func rebound(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("REBOUND_TEST_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rebound-blackbox-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "rebound")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/rebound")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// relay is a rebound relay running in its own process.
type relay struct {
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startRelay runs `rebound relay` with args on a fresh SQLite file and waits
// until /readyz answers 200.
func startRelay(t *testing.T, args ...string) *relay {
	t.Helper()
	return startRelayOn(t, "sqlite:"+filepath.Join(t.TempDir(), "rebound.db"), args...)
}

// startRelayOn is startRelay on the store db (a --db value).
func startRelayOn(t *testing.T, db string, args ...string) *relay {
	t.Helper()
	addr := freeAddr(t)
	args = append([]string{"relay", "--listen", addr, "--db", db}, args...)
	cmd := exec.Command(rebound(t), args...)
	var log bytes.Buffer
	w := &syncWriter{w: &log}
	cmd.Stdout, cmd.Stderr = w, w // one writer: exec runs one copying goroutine
	cmd.Env = append(os.Environ(), "REBOUND_ADMIN_TOKENS=", "REBOUND_READ_TOKENS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: addr, cmd: cmd, log: &log}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("relay log (last 4 KiB):\n%s", tail(log.String(), 4<<10))
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
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

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// enqueue posts one message and returns its ID.
func (r *relay) enqueue(t *testing.T, dest string, payload string) string {
	t.Helper()
	body := `{"destination":` + strconv.Quote(dest) + `,"payload":` + payload + `}`
	resp, err := http.Post("http://"+r.addr+"/v1/messages", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: status %d, %v", resp.StatusCode, err)
	}
	return out.ID
}

// receiver is a loopback webhook receiver whose answer depends on the
// payload; it records when each message first arrived with a 2xx.
type receiver struct {
	mu       sync.Mutex
	answer   func(payload []byte) int
	requests int
	ok       map[string]time.Time
	srv      *http.Server
	url      string
}

func startReceiver(t *testing.T, answer func(payload []byte) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer, ok: map[string]time.Time{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.url = "http://" + l.Addr().String() + "/hook"
	rc.srv = &http.Server{Handler: rc}
	go rc.srv.Serve(l)
	t.Cleanup(func() { rc.srv.Close() })
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	rc.mu.Lock()
	rc.requests++
	answer := rc.answer
	rc.mu.Unlock()
	code := answer(body)
	if code < 300 {
		rc.mu.Lock()
		if _, dup := rc.ok[r.Header.Get("webhook-id")]; !dup {
			rc.ok[r.Header.Get("webhook-id")] = now
		}
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (rc *receiver) count() (requests, delivered int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests, len(rc.ok)
}

// every runs f at rate per second for d, bounded by count.
func every(rate int, d time.Duration, f func(i int)) {
	n := int(d.Seconds()) * rate
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; i < n; i++ {
		f(i)
		<-tick.C
	}
}

// percentile returns the p-th percentile (0 < p <= 1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
