package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/rebound-go/rebound/outbox"
)

// A receiver verifies each delivery with the secret its destination signs
// with, and refuses what it cannot verify.
func ExampleVerifyRequest() {
	secret := outbox.NewSecret() // the destination's Secrets, shared with the receiver
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := outbox.VerifyRequest(r, secret)
		if err != nil {
			fmt.Println("refused:", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Printf("message %s: %s\n", r.Header.Get(outbox.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// A delivery, as a relay's WebhookSender makes it.
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: receiver.URL, Secrets: []string{secret}}},
		Addresses:    outbox.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	msg := outbox.Message{ID: "msg_1", Destination: "orders", Payload: []byte(`{"id":"ord_1"}`)}
	if err := sender.Send(context.Background(), outbox.Delivery{Record: outbox.Record{Message: msg, Attempt: 1}}); err != nil {
		fmt.Println(err)
	}

	// A forgery.
	resp, err := http.Post(receiver.URL, "application/json", strings.NewReader(`{"id":"ord_2"}`))
	if err == nil {
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// message msg_1: {"id":"ord_1"}
	// refused: outbox: missing webhook header: webhook-id: absent or empty
	// 401
}

// The middleware verifies before the handler runs, which then reads the
// verified body.
func ExampleVerifyMiddleware() {
	secret := outbox.NewSecret()
	verified, err := outbox.VerifyMiddleware(secret)
	if err != nil {
		panic(err) // a malformed secret
	}
	handler := verified(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("message %s: %s\n", r.Header.Get(outbox.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	}))
	receiver := httptest.NewServer(handler)
	defer receiver.Close()

	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{
			"orders": {URL: receiver.URL, Secrets: []string{secret}},
			"wrong":  {URL: receiver.URL, Secrets: []string{outbox.NewSecret()}},
		},
		Addresses: outbox.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	for _, dest := range []string{"orders", "wrong"} {
		msg := outbox.Message{ID: "msg_" + dest, Destination: dest, Payload: []byte(`{"id":"ord_1"}`)}
		err := sender.Send(context.Background(), outbox.Delivery{Record: outbox.Record{Message: msg, Attempt: 1}})
		if de := (*outbox.DeliveryError)(nil); errors.As(err, &de) {
			fmt.Println(dest, "refused:", de.Status)
		}
	}
	// Output:
	// message msg_orders: {"id":"ord_1"}
	// wrong refused: 401
}
