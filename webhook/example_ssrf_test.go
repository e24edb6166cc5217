package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/rebound-go/rebound/webhook"
)

// The zero AddressPolicy refuses reserved addresses, however they are
// spelt, and allows public ones; Allow makes exceptions.
func ExampleAddressPolicy() {
	var guard webhook.AddressPolicy
	for _, a := range []string{"1.1.1.1", "127.0.0.1", "169.254.169.254", "::ffff:10.0.0.5", "64:ff9b::7f00:1"} {
		fmt.Println(a, guard.Check(netip.MustParseAddr(a)))
	}

	tests := webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	fmt.Println("allowed:", tests.Check(netip.MustParseAddr("127.0.0.1")))
	// Output:
	// 1.1.1.1 <nil>
	// 127.0.0.1 webhook: refusing to dial 127.0.0.1: loopback (127.0.0.0/8)
	// 169.254.169.254 webhook: refusing to dial 169.254.169.254: cloud metadata service (link-local) (169.254.169.254/32)
	// ::ffff:10.0.0.5 webhook: refusing to dial ::ffff:10.0.0.5: private (RFC 1918) (10.0.0.0/8)
	// 64:ff9b::7f00:1 webhook: refusing to dial 64:ff9b::7f00:1: it embeds 127.0.0.1, loopback (127.0.0.0/8)
	// allowed: <nil>
}

// A client from NewClient checks every address it dials, after DNS
// resolution: a receiver on loopback is refused unless allowed.
func ExampleNewClient() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	_, err := webhook.NewClient(webhook.AddressPolicy{}).Get(receiver.URL)
	fmt.Println("refused:", errors.Is(err, webhook.ErrAddressRefused))

	allowed := webhook.NewClient(webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := allowed.Get(receiver.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// refused: true
	// 204
}
