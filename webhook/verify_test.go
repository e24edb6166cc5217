package webhook_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// signedRequest is a delivery as outbox.WebhookSender sends it, signed at
// ts.
func signedRequest(t testing.TB, secrets []string, id string, ts time.Time, body string) *http.Request {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, mustSecret(t, s))
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	r.Header.Set(webhook.HeaderID, id)
	r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(webhook.HeaderSignature, webhook.Sign(keys, id, ts, []byte(body)))
	return r
}

func TestVerifyRequest(t *testing.T) {
	oldSecret, newSecret, other := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	const body = `{"type":"order.created"}`
	t.Run("accepted", func(t *testing.T) {
		r := signedRequest(t, []string{newSecret}, "msg_1", time.Now(), body)
		got, err := webhook.VerifyRequest(r, oldSecret, newSecret)
		if err != nil || string(got) != body {
			t.Fatalf("VerifyRequest = %q, %v; want the body", got, err)
		}
	})
	for _, tc := range []struct {
		name    string
		request func() *http.Request
		want    error
	}{
		{"another secret", func() *http.Request { return signedRequest(t, []string{other}, "msg_1", time.Now(), body) }, webhook.ErrInvalidSignature},
		{"tampered body", func() *http.Request {
			r := signedRequest(t, []string{newSecret}, "msg_1", time.Now(), body)
			r.Body = io.NopCloser(strings.NewReader(`{"type":"order.deleted"}`))
			return r
		}, webhook.ErrInvalidSignature},
		{"replayed an hour later", func() *http.Request {
			return signedRequest(t, []string{newSecret}, "msg_1", time.Now().Add(-time.Hour), body)
		}, webhook.ErrTimestampTooOld},
		{"unsigned", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body)) }, webhook.ErrMissingHeaders},
		{"too large", func() *http.Request {
			return signedRequest(t, []string{newSecret}, "msg_1", time.Now(), strings.Repeat("x", webhook.MaxBodyBytes+1))
		}, webhook.ErrBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := webhook.VerifyRequest(tc.request(), newSecret)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("VerifyRequest = %q, %v; want no body and %v", got, err, tc.want)
			}
		})
	}
	t.Run("bad secrets", func(t *testing.T) {
		r := signedRequest(t, []string{newSecret}, "msg_1", time.Now(), body)
		if _, err := webhook.VerifyRequest(r); err == nil || !strings.Contains(err.Error(), "at least one secret") {
			t.Fatalf("no secrets: %v", err)
		}
		_, err := webhook.VerifyRequest(r, newSecret, "whsec_short")
		if !errors.Is(err, webhook.ErrInvalidSecret) || !strings.Contains(err.Error(), "secret 2") || strings.Contains(err.Error(), newSecret) {
			t.Fatalf("an invalid second secret: %v; want ErrInvalidSecret naming secret 2", err)
		}
	})
	t.Run("a body of exactly the limit", func(t *testing.T) {
		big := strings.Repeat("x", webhook.MaxBodyBytes)
		got, err := webhook.VerifyRequest(signedRequest(t, []string{newSecret}, "msg_1", time.Now(), big), newSecret)
		if err != nil || len(got) != len(big) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	})
}

func TestVerifyMiddleware(t *testing.T) {
	secret := webhook.NewSecret()
	const body = `{"type":"order.created"}`
	var seen []string
	mw, err := webhook.VerifyMiddleware(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, string(b))
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"signed", signedRequest(t, []string{secret}, "msg_1", time.Now(), body), http.StatusNoContent},
		{"another secret", signedRequest(t, []string{webhook.NewSecret()}, "msg_1", time.Now(), body), http.StatusUnauthorized},
		{"too old", signedRequest(t, []string{secret}, "msg_1", time.Now().Add(-time.Hour), body), http.StatusUnauthorized},
		{"unsigned", httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body)), http.StatusBadRequest},
		{"too large", signedRequest(t, []string{secret}, "msg_1", time.Now(), strings.Repeat("x", webhook.MaxBodyBytes+1)), http.StatusRequestEntityTooLarge},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tc.r)
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d (%s)", tc.name, w.Code, tc.status, w.Body)
		}
		if tc.status >= 400 {
			var p struct{ Status int }
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != tc.status {
				t.Errorf("%s: %s %q; want a problem+json body", tc.name, ct, w.Body)
			}
		}
	}
	if len(seen) != 1 || seen[0] != body {
		t.Fatalf("the handler saw %q; want the one signed body", seen)
	}
	if _, err := webhook.VerifyMiddleware("not-a-secret"); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Fatalf("VerifyMiddleware with a bad secret: %v", err)
	}
}

// BenchmarkVerifyRequest is a receiver's check of a 1 KiB delivery: the
// secret decoded, the body read and the signature verified.
func BenchmarkVerifyRequest(b *testing.B) {
	secret := webhook.NewSecret()
	body := strings.Repeat("x", 1<<10)
	r := signedRequest(b, []string{secret}, "msg_1", time.Now(), body)
	reader := strings.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		reader.Reset(body)
		r.Body = io.NopCloser(reader)
		if _, err := webhook.VerifyRequest(r, secret); err != nil {
			b.Fatal(err)
		}
	}
}
