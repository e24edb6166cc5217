package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/alert"
)

// alertmanagerBinary finds Alertmanager: REBOUND_TEST_ALERTMANAGER_BIN (set
// by .ci/run, which installs Debian's prometheus-alertmanager), else PATH.
func alertmanagerBinary(t *testing.T) string {
	if bin := os.Getenv("REBOUND_TEST_ALERTMANAGER_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("REBOUND_TEST_ALERTMANAGER_BIN=%s: %v", bin, err)
		}
		return bin
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Skip("Alertmanager is not installed and REBOUND_TEST_ALERTMANAGER_BIN is unset (.ci/run installs Debian's prometheus-alertmanager)")
	return ""
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startAlertmanager runs a real Alertmanager on a loopback port with a
// configuration that routes everything to a receiver with no integrations.
func startAlertmanager(t *testing.T) string {
	bin := alertmanagerBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	waitFor(t, "Alertmanager to be ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

// waitFor polls cond every 50 ms for at most 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

type amListed struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func activeAlerts(t *testing.T, base string) []amListed {
	resp, err := http.Get(base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []amListed
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list
}

func TestAlertmanagerReceivesAndResolves(t *testing.T) {
	base := startAlertmanager(t)
	n := alert.AlertmanagerNotifier{URL: base}
	firing := alert.Alert{
		Name: alert.ConsecutiveFailures, Endpoint: "pay", State: alert.Firing, Value: 7,
		Summary: "pay: 7 calls in a row did not succeed", StartsAt: time.Now().Add(-time.Minute),
		Labels: map[string]string{"job": "shop"},
	}
	if err := n.Notify(context.Background(), firing); err != nil {
		t.Fatal(err)
	}
	var got []amListed
	waitFor(t, "the alert to be listed", func() bool {
		got = activeAlerts(t, base)
		return len(got) == 1
	})
	l := got[0]
	if l.Labels["alertname"] != alert.ConsecutiveFailures || l.Labels["endpoint"] != "pay" || l.Labels["job"] != "shop" || l.Labels["severity"] != "ticket" ||
		l.Annotations["summary"] != firing.Summary || l.Status.State != "active" {
		t.Fatalf("listed %+v", l)
	}
	resolved := firing
	resolved.State, resolved.EndsAt = alert.Resolved, time.Now()
	if err := n.Notify(context.Background(), resolved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the alert to resolve", func() bool { return len(activeAlerts(t, base)) == 0 })
}

// The whole path: events in, evaluation, Alertmanager out, and back.
func TestAlerterToAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	a, err := alert.New(alert.Config{
		Interval:  50 * time.Millisecond,
		Window:    time.Second,
		Notifiers: []alert.Notifier{alert.AlertmanagerNotifier{URL: base}},
		Rules: alert.Rules{
			ConsecutiveFailures: alert.Rule{Threshold: 3, For: -1},
			HighFailureRate:     alert.Rule{Disabled: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	calls(a, "inventory", 3, 3, 1)
	waitFor(t, "the alert to reach Alertmanager", func() bool {
		for _, l := range activeAlerts(t, base) {
			if l.Labels["endpoint"] == "inventory" && l.Labels["alertname"] == alert.ConsecutiveFailures {
				return true
			}
		}
		return false
	})
	calls(a, "inventory", 1, 0, 1)
	waitFor(t, "the alert to resolve in Alertmanager", func() bool { return len(activeAlerts(t, base)) == 0 })
}

func TestNotifierErrorsNameTheAnswer(t *testing.T) {
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad alert", http.StatusBadRequest)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	err := alert.WebhookNotifier{URL: fmt.Sprintf("http://%s/hook?token=secret", ln.Addr())}.Notify(context.Background(), alert.Alert{Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "bad alert") {
		t.Fatalf("got %v", err)
	}
}

func TestWebhookRetriesThroughReboundhttp(t *testing.T) {
	var bodies []map[string]any
	var keys []string
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		bodies = append(bodies, m)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(bodies) == 1 {
			http.Error(w, "busy", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	err := alert.WebhookNotifier{URL: "http://" + ln.Addr().String() + "/hook"}.Notify(context.Background(), alert.Alert{
		Name: alert.HighFailureRate, Endpoint: "api/v1/user", State: alert.Firing, Value: 0.3, Summary: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("%d deliveries with keys %v", len(bodies), keys)
	}
	if bodies[1]["alert"] != alert.HighFailureRate || bodies[1]["endpoint"] != "api/v1/user" || bodies[1]["state"] != "firing" || bodies[1]["value"] != 0.3 {
		t.Fatalf("body %v", bodies[1])
	}
}
