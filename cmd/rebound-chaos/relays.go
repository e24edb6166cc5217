package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// relayState is what the chaos run did to a relay process last.
type relayState int

const (
	down relayState = iota
	running
	paused
)

// Relay is one `rebound relay` process, in a process group of its own,
// its stderr appended to a log file across restarts.
type Relay struct {
	Name    string
	Addr    string // API address, fixed across restarts
	LogPath string
	bin     string
	args    []string
	env     []string

	mu     sync.Mutex
	state  relayState
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has been waited for
	starts int
}

// RelaySpec is what every relay of a run shares.
type RelaySpec struct {
	Bin        string
	DB         string // --db
	ConfigPath string
	Token      string
	Dir        string // logs go here
	Lease      time.Duration
}

// WriteRelayConfig writes the relays' YAML configuration: one destination,
// "chaos", routed to the sink, with a short timeout and a fast retry
// schedule.
func WriteRelayConfig(path string, sink Sink, timeout time.Duration) error {
	cfg := "log: {level: info}\nallow_addresses: [127.0.0.0/8]\n" + sink.RelayYAML(timeout)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// NewRelay prepares relay i on a free loopback port; Start runs it.
func NewRelay(spec RelaySpec, i int) (*Relay, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("relay%d", i)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	return &Relay{
		Name:    name,
		Addr:    addr,
		LogPath: filepath.Join(spec.Dir, name+".log"),
		bin:     spec.Bin,
		args: []string{"relay",
			"--config", spec.ConfigPath,
			"--db", spec.DB,
			"--listen", addr,
			"--relay-lease", spec.Lease.String(),
			"--relay-poll-interval", "100ms",
			"--relay-max-attempts", "1000",
		},
		env: append(os.Environ(), "REBOUND_ADMIN_TOKENS="+spec.Token),
	}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start runs the process and waits, up to wait, until /readyz answers 200.
func (r *Relay) Start(ctx context.Context, wait time.Duration) error {
	r.mu.Lock()
	if r.state != down {
		r.mu.Unlock()
		return fmt.Errorf("%s: already running", r.Name)
	}
	f, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	r.starts++
	fmt.Fprintf(f, "=== chaos: start %d of %s at %s\n", r.starts, r.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = f, f
	// A group of its own, so that signals reach it alone; and killed
	// with the chaos run should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		r.mu.Unlock()
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	exited := make(chan struct{})
	r.cmd, r.exited, r.state = cmd, exited, running
	r.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	return r.waitReady(ctx, wait, exited)
}

func (r *Relay) waitReady(ctx context.Context, wait time.Duration, exited chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-exited:
			t.Stop()
			return fmt.Errorf("%s exited before it was ready (log: %s)", r.Name, r.LogPath)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s not ready within %s (log: %s)", r.Name, wait, r.LogPath)
		case <-t.C:
		}
	}
}

// signal sends sig to the relay's process group.
func (r *Relay) signal(sig syscall.Signal) error {
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New(r.Name + ": not started")
	}
	return syscall.Kill(-r.cmd.Process.Pid, sig)
}

// Kill SIGKILLs the relay (resuming it first if paused) and waits for it to
// exit.
func (r *Relay) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == down {
		return nil
	}
	if err := r.signal(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	<-r.exited
	r.state = down
	return nil
}

// Pause SIGSTOPs a running relay.
func (r *Relay) Pause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != running {
		return errors.New(r.Name + ": not running")
	}
	if err := r.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	r.state = paused
	return nil
}

// Resume SIGCONTs a paused relay.
func (r *Relay) Resume() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != paused {
		return errors.New(r.Name + ": not paused")
	}
	if err := r.signal(syscall.SIGCONT); err != nil {
		return err
	}
	r.state = running
	return nil
}

// Stop ends the relay gracefully (SIGTERM), then by SIGKILL after grace.
func (r *Relay) Stop(grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == down {
		return
	}
	if r.state == paused {
		_ = r.signal(syscall.SIGCONT)
	}
	_ = r.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.exited:
	case <-t.C:
		_ = r.signal(syscall.SIGKILL)
		<-r.exited
	}
	r.state = down
}

// Up reports whether the relay is running and not paused.
func (r *Relay) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == running
}

// Running reports whether the relay process exists (running or paused).
func (r *Relay) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state != down
}

// Delivering reports whether the relay's breaker for the chaos
// destination is closed (or not yet created), from its /metrics.
func (r *Relay) Delivering() bool {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + r.Addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `rebound_breaker_state{endpoint="chaos"} `); ok {
			return strings.TrimSpace(v) == "0"
		}
	}
	return true
}

// Tail returns the last n lines of the relay's log.
func (r *Relay) Tail(n int) string {
	b, err := os.ReadFile(r.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BuildRebound builds the rebound binary into dir.
func BuildRebound(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "rebound")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rebound-go/rebound/cmd/rebound")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building rebound: %w", err)
	}
	return bin, nil
}
