package blackbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Real Prometheus, evaluating the shipped rules every second and scraping
// every second a relay whose receiver rejects half of the messages (500,
// forever): the failure-rate alert goes pending within 150 s. Needs
// REBOUND_TEST_PROMETHEUS_BIN, a Prometheus server (Debian's prometheus).
func TestFailureRateAlertSeesTheRelay(t *testing.T) {
	bin := os.Getenv("REBOUND_TEST_PROMETHEUS_BIN")
	if bin == "" {
		t.Skip("REBOUND_TEST_PROMETHEUS_BIN is not set: no Prometheus server to evaluate the alert rules (Debian's prometheus; .ci/run sets it)")
	}
	t.Parallel()
	var n atomic.Int64
	rc := startReceiver(t, func(payload []byte) int {
		if bytes.Contains(payload, []byte(`"reject"`)) {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	r := startRelay(t, "--destination", "orders="+rc.url, "--allow-addresses", "127.0.0.0/8")
	prom := startPrometheus(t, bin, r.addr)

	start := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // 5 messages a second, half of them rejected
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 5*180; i++ {
			payload := `{"kind":"order"}`
			if n.Add(1)%2 == 0 {
				payload = `{"kind":"reject"}`
			}
			r.enqueue(t, "orders", payload)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()

	for i := 0; i < 180; i++ {
		time.Sleep(time.Second)
		state := alertState(t, prom, "ReboundEndpointHighFailureRate", "orders")
		if state == "pending" || state == "firing" {
			t.Logf("ReboundEndpointHighFailureRate %s for orders %v after the first enqueue", state, time.Since(start).Round(time.Second))
			if d := time.Since(start); d > 150*time.Second {
				t.Fatalf("the alert went %s after %v, want within 150 s", state, d)
			}
			return
		}
	}
	t.Fatalf("ReboundEndpointHighFailureRate never went pending for orders in 3 minutes; ratio now: %s", query(t, prom, `endpoint:rebound_calls_failed_per_calls:ratio_rate5m`))
}

// startPrometheus runs Prometheus with the shipped rules, scraping target
// and evaluating every second, and returns its address once it is ready.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	rules := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "prometheus", "rebound_rules.yml")
	dir := t.TempDir()
	cfg := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" +
		"rule_files:\n  - " + rules + "\n" +
		"scrape_configs:\n  - job_name: relay\n    static_configs:\n      - targets: ['" + target + "']\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", tail(log.String(), 4<<10))
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if i == 300 {
			t.Fatalf("Prometheus was not ready after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alertState returns the state of alert name for endpoint ("" if absent).
func alertState(t *testing.T, prom, name, endpoint string) string {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, a := range out.Data.Alerts {
		if a.Labels["alertname"] == name && a.Labels["endpoint"] == endpoint {
			return a.State
		}
	}
	return ""
}

// query returns the result of an instant query, as JSON text.
func query(t *testing.T, prom, q string) string {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
