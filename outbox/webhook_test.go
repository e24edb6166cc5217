package outbox_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// The receiver a WebhookSender delivers to accepts its deliveries, signed
// with the secrets of its destination.
func TestVerifyRequestAcceptsWebhookSender(t *testing.T) {
	secrets := []string{webhook.NewSecret(), webhook.NewSecret()}
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secrets[1])
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- body
	}))
	defer srv.Close()
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: srv.URL, Secrets: secrets}},
		Client:       srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"id":"ord_1"}`)
	if err := sender.Send(t.Context(), outbox.Delivery{Record: outbox.Record{Message: outbox.Message{ID: "msg_1", Destination: "orders", Payload: payload}, Attempt: 1}}); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("received %q", b)
	}
}

// A receiver reads every payload a message may carry.
func TestReceiversReadTheLargestPayload(t *testing.T) {
	if outbox.MaxPayloadBytes > webhook.MaxBodyBytes {
		t.Fatalf("outbox.MaxPayloadBytes is %d, webhook.MaxBodyBytes %d: VerifyRequest would refuse the largest messages", outbox.MaxPayloadBytes, webhook.MaxBodyBytes)
	}
}
