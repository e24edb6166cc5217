package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// signed returns a POST of body to url signed with secret, as a relay's
// WebhookSender sends a delivery.
func signed(url, secret, id string, body []byte) *http.Request {
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	now := time.Now()
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{key}, id, now, body))
	return req
}

// post sends req and prints the status it gets.
func post(req *http.Request) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
}

// A sender signs the message ID, the time and the body with each of its
// secrets: one entry per secret in the webhook-signature header.
func ExampleSign() {
	key, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	signedAt := time.Unix(1614265330, 0)
	fmt.Println(webhook.Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", signedAt, []byte(`{"test": 2432232314}`)))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// Verify checks the headers and the body of a delivery at a given time:
// here the test vector of the Standard Webhooks specification, checked a
// minute and an hour after it was signed.
func ExampleVerify() {
	key, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(webhook.HeaderTimestamp, "1614265330")
	h.Set(webhook.HeaderSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	signedAt := time.Unix(1614265330, 0)

	fmt.Println(webhook.Verify([][]byte{key}, h, body, signedAt.Add(time.Minute), 0))

	err := webhook.Verify([][]byte{key}, h, []byte(`{"test": 1}`), signedAt.Add(time.Minute), 0)
	fmt.Println(errors.Is(err, webhook.ErrInvalidSignature))

	err = webhook.Verify([][]byte{key}, h, body, signedAt.Add(time.Hour), 0)
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// webhook: timestamp too old: webhook-timestamp: signed 1h0m0s before now; tolerance 5m0s
}

// A receiver verifies each delivery with the secret its destination signs
// with, and refuses what it cannot verify.
func ExampleVerifyRequest() {
	secret := webhook.NewSecret() // the destination's Secrets, shared with the receiver
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret)
		if err != nil {
			fmt.Println("refused:", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Printf("message %s: %s\n", r.Header.Get(webhook.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	post(signed(receiver.URL, secret, "msg_1", []byte(`{"id":"ord_1"}`)))

	// A forgery.
	forged, _ := http.NewRequest(http.MethodPost, receiver.URL, strings.NewReader(`{"id":"ord_2"}`))
	post(forged)
	// Output:
	// message msg_1: {"id":"ord_1"}
	// 204
	// refused: webhook: missing header: webhook-id: absent or empty
	// 401
}

// The middleware verifies before the handler runs, which then reads the
// verified body; it answers what it refuses itself.
func ExampleVerifyMiddleware() {
	secret := webhook.NewSecret()
	verified, err := webhook.VerifyMiddleware(secret)
	if err != nil {
		panic(err) // a malformed secret
	}
	handler := verified(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("message %s: %s\n", r.Header.Get(webhook.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	}))
	receiver := httptest.NewServer(handler)
	defer receiver.Close()

	post(signed(receiver.URL, secret, "msg_1", []byte(`{"id":"ord_1"}`)))
	post(signed(receiver.URL, webhook.NewSecret(), "msg_2", []byte(`{"id":"ord_2"}`)))
	// Output:
	// message msg_1: {"id":"ord_1"}
	// 204
	// 401
}
