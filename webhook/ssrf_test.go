package webhook_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// These tests send traffic to loopback only. Public and private addresses
// are passed to Check and Control, never dialled, and names are resolved
// from /etc/hosts or by an in-process DNS server (loopbackResolver), so no
// query leaves the machine.

var loopbackAllowed = webhook.AddressPolicy{Allow: []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		addr, rng, embedded string
	}{
		{"127.0.0.1", "127.0.0.0/8", ""},
		{"127.255.255.254", "127.0.0.0/8", ""},
		{"::1", "::1/128", ""},
		{"0.0.0.0", "0.0.0.0/32", ""},
		{"0.1.2.3", "0.0.0.0/8", ""},
		{"::", "::/128", ""},
		{"10.1.2.3", "10.0.0.0/8", ""},
		{"172.16.0.1", "172.16.0.0/12", ""},
		{"172.31.255.255", "172.16.0.0/12", ""},
		{"192.168.1.1", "192.168.0.0/16", ""},
		{"100.64.0.1", "100.64.0.0/10", ""},
		{"100.100.100.200", "100.64.0.0/10", ""}, // Alibaba Cloud metadata
		{"169.254.169.254", "169.254.169.254/32", ""},
		{"169.254.1.1", "169.254.0.0/16", ""},
		{"192.0.0.192", "192.0.0.0/24", ""}, // Oracle Cloud metadata
		{"192.0.2.1", "192.0.2.0/24", ""},
		{"198.51.100.7", "198.51.100.0/24", ""},
		{"203.0.113.9", "203.0.113.0/24", ""},
		{"198.18.0.1", "198.18.0.0/15", ""},
		{"198.19.255.255", "198.18.0.0/15", ""},
		{"192.88.99.1", "192.88.99.0/24", ""},
		{"224.0.0.1", "224.0.0.0/4", ""},
		{"239.255.255.250", "224.0.0.0/4", ""},
		{"240.0.0.1", "240.0.0.0/4", ""},
		{"255.255.255.255", "255.255.255.255/32", ""},

		// IPv4-mapped addresses are unmapped first.
		{"::ffff:127.0.0.1", "127.0.0.0/8", ""},
		{"::ffff:10.0.0.1", "10.0.0.0/8", ""},
		{"::ffff:169.254.169.254", "169.254.169.254/32", ""},
		{"::ffff:0:7f00:1", "::ffff:0:0:0/96", ""},
		{"::127.0.0.1", "::/96", ""},
		{"::8.8.8.8", "::/96", ""},

		// Translation prefixes are judged by the IPv4 address they carry.
		{"64:ff9b::7f00:1", "127.0.0.0/8", "127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", "169.254.169.254/32", "169.254.169.254"},
		{"64:ff9b::10.0.0.1", "10.0.0.0/8", "10.0.0.1"},
		{"2002:7f00:1::", "127.0.0.0/8", "127.0.0.1"},
		{"2002:c0a8:101::1", "192.168.0.0/16", "192.168.1.1"},
		{"64:ff9b:1::808:808", "64:ff9b:1::/48", ""},
		{"2001::1", "2001::/32", ""},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", ""},

		{"fd00::1", "fc00::/7", ""},
		{"fd00:ec2::254", "fc00::/7", ""}, // AWS metadata over IPv6
		{"fc00::1", "fc00::/7", ""},
		{"fe80::1", "fe80::/10", ""},
		{"fe80::1%eth0", "fe80::/10", ""},
		{"fec0::1", "fec0::/10", ""},
		{"ff02::1", "ff00::/8", ""},
		{"100::1", "100::/64", ""},
		{"2001:db8::1", "2001:db8::/32", ""},
		{"3fff::1", "3fff::/20", ""},
		{"2001:2::1", "2001:2::/48", ""},
		{"2001:10::1", "2001::/23", ""},
		{"::2", "::/96", ""},
		{"1::1", "::/3", ""},
		{"4000::1", "4000::/2", ""},
		{"5f00::1", "4000::/2", ""},
		{"8000::1", "8000::/1", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.addr)
			err := webhook.AddressPolicy{}.Check(ip)
			if !errors.Is(err, webhook.ErrAddressRefused) {
				t.Fatalf("Check = %v, want ErrAddressRefused", err)
			}
			var ae *webhook.AddressError
			if !errors.As(err, &ae) {
				t.Fatalf("Check = %#v, want an *AddressError", err)
			}
			if ae.Addr != ip || ae.Range.String() != tc.rng || ae.Name == "" {
				t.Errorf("Check = %+v, want range %s", ae, tc.rng)
			}
			if got := ae.Embedded; tc.embedded != "" && got != netip.MustParseAddr(tc.embedded) || tc.embedded == "" && got.IsValid() {
				t.Errorf("Embedded = %v, want %q", got, tc.embedded)
			}
			for _, part := range []string{ip.String(), tc.rng} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%q does not name %s", err, part)
				}
			}
		})
	}
}

// Checked only: these addresses are never dialled.
func TestCheckAllowsPublic(t *testing.T) {
	for _, s := range []string{
		"8.8.8.8",
		"1.1.1.1",
		"9.9.9.9",
		"100.63.255.255",  // just below CGNAT
		"100.128.0.0",     // just above CGNAT
		"172.32.0.1",      // just above 172.16.0.0/12
		"198.20.0.1",      // just above benchmarking
		"223.255.255.255", // just below multicast
		"::ffff:8.8.8.8",
		"2606:4700::1111",
		"2001:4860:4860::8888",
		"2001:200::1",      // just above 2001::/23
		"64:ff9b::808:808", // NAT64 to 8.8.8.8
		"2002:808:808::1",  // 6to4 from 8.8.8.8
		"2a00:1450:4001::1",
		"3ffe::1", // below 3fff::/20
	} {
		if err := (webhook.AddressPolicy{}).Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", s, err)
		}
	}
}

func TestCheckAllow(t *testing.T) {
	p := webhook.AddressPolicy{Allow: append([]netip.Prefix{
		netip.MustParsePrefix("fe80::/10"),
		{}, // invalid: matches nothing
	}, loopbackAllowed.Allow...)}
	for _, s := range []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "fe80::1%eth0", "8.8.8.8"} {
		if err := p.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", s, err)
		}
	}
	// Allow covers the dialled address, not what a translator reaches.
	for _, s := range []string{"10.0.0.1", "::2", "0.0.0.0", "::", "64:ff9b::7f00:1", "2002:7f00:1::", "169.254.169.254"} {
		if err := p.Check(netip.MustParseAddr(s)); !errors.Is(err, webhook.ErrAddressRefused) {
			t.Errorf("Check(%s) = %v, want ErrAddressRefused", s, err)
		}
	}
}

func TestCheckInvalid(t *testing.T) {
	err := webhook.AddressPolicy{}.Check(netip.Addr{})
	if !errors.Is(err, webhook.ErrAddressRefused) {
		t.Fatalf("Check(zero Addr) = %v, want ErrAddressRefused", err)
	}
}

func TestControl(t *testing.T) {
	for _, tc := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2606:4700::1111]:443", true},
		{"udp4", "1.1.1.1:53", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[::ffff:127.0.0.1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp", "localhost:80", false}, // not resolved: Control sees addresses only
		{"tcp", "8.8.8.8", false},      // no port
		{"unix", "/run/docker.sock", false},
		{"ip4:icmp", "8.8.8.8", false},
	} {
		err := webhook.AddressPolicy{}.Control(tc.network, tc.address, nil)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, webhook.ErrAddressRefused) {
			t.Errorf("Control(%s, %s) = %v, want ok=%v", tc.network, tc.address, err, tc.ok)
		}
	}
}

func TestDialerSettings(t *testing.T) {
	p := webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	d := p.Dialer()
	if d.Timeout <= 0 || d.Control == nil || d.ControlContext != nil {
		t.Fatalf("Dialer() = %+v, want a Timeout and Control", d)
	}
	// The dialer keeps its own copy of Allow.
	p.Allow[0] = netip.MustParsePrefix("10.0.0.0/8")
	if err := d.Control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("after the caller changed Allow: %v", err)
	}
	if err := d.Control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("after the caller changed Allow: 10.0.0.1 allowed")
	}
}

// client returns an HTTP client that dials through d and never uses a proxy.
func client(d *net.Dialer) *http.Client {
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// countingServer is an httptest server on loopback that counts the
// connections it accepts.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestDialerToLoopbackServer(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))

	_, err := client(webhook.AddressPolicy{}.Dialer()).Get(srv.URL)
	var ae *webhook.AddressError
	if !errors.Is(err, webhook.ErrAddressRefused) || !errors.As(err, &ae) {
		t.Fatalf("GET %s with the default policy: err = %v, want ErrAddressRefused", srv.URL, err)
	}
	if ae.Range.String() != "127.0.0.0/8" && ae.Range.String() != "::1/128" {
		t.Errorf("refused for %v, want the loopback range", ae.Range)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the server accepted %d connections from a refused dial", n)
	}

	resp, err := client(loopbackAllowed.Dialer()).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET %s with loopback allowed: %v", srv.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET %s with loopback allowed = %d %q", srv.URL, resp.StatusCode, body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the server accepted %d connections, want 1", n)
	}
}

// A redirect is dialled through the same Dialer, so it is checked too.
func TestDialerChecksRedirects(t *testing.T) {
	target, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	defer target.Close()
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+target.Addr().String()+"/", http.StatusFound)
	}))

	only1 := webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	_, err = client(only1.Dialer()).Get(srv.URL)
	if !errors.Is(err, webhook.ErrAddressRefused) {
		t.Fatalf("following a redirect to %s: err = %v, want ErrAddressRefused", target.Addr(), err)
	}
	assertNoConnection(t, target)
}

// Names and numeric spellings that resolve to loopback are refused when
// dialled, and nothing reaches the listener.
func TestDialerRefusesNamesResolvingToLoopback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	d := webhook.AddressPolicy{}.Dialer()
	d.Resolver = loopbackResolver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, tc := range []struct {
		host string
		// mustRefuse: the name certainly resolves (from /etc/hosts or the
		// in-process DNS server), so the policy must be what stops it.
		// Go's resolver does not look up all-digit names at all, so
		// "2130706433" fails before dialling, which is also safe.
		mustRefuse bool
	}{
		{"localhost", true},
		{"0x7f000001", true},
		{"rebinding.example", true},
		{"2130706433", false},
		{"0177.0.0.1", false},
		{"127.1", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(tc.host, port))
			if err == nil {
				c.Close()
				t.Fatalf("dialled %s (%s)", tc.host, c.RemoteAddr())
			}
			if tc.mustRefuse && !errors.Is(err, webhook.ErrAddressRefused) {
				t.Fatalf("dial %s: %v, want ErrAddressRefused", tc.host, err)
			}
			t.Logf("dial %s: %v", tc.host, err)
			assertNoConnection(t, ln)

			// The same host in a webhook URL.
			url := "http://" + net.JoinHostPort(tc.host, port) + "/"
			hc := client(d)
			if resp, err := hc.Get(url); err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded", url)
			} else if tc.mustRefuse && !errors.Is(err, webhook.ErrAddressRefused) {
				t.Fatalf("GET %s: %v, want ErrAddressRefused", url, err)
			}
			assertNoConnection(t, ln)
		})
	}

	// The same names do reach the listener when loopback is allowed, so the
	// refusals above are the policy's doing.
	allowed := loopbackAllowed.Dialer()
	allowed.Resolver = d.Resolver
	for _, host := range []string{"localhost", "0x7f000001"} {
		c, err := allowed.DialContext(ctx, "tcp4", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatalf("dial %s with loopback allowed: %v", host, err)
		}
		c.Close()
		if a, err := ln.Accept(); err != nil {
			t.Fatalf("accept after dialling %s: %v", host, err)
		} else {
			a.Close()
		}
	}
}

func TestDialerRefusesIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	c, err := webhook.AddressPolicy{}.Dialer().Dial("tcp", ln.Addr().String())
	if err == nil {
		c.Close()
		t.Fatalf("dialled %s", ln.Addr())
	}
	if !errors.Is(err, webhook.ErrAddressRefused) {
		t.Fatalf("dial %s: %v, want ErrAddressRefused", ln.Addr(), err)
	}
	assertNoConnection(t, ln)
}

// assertNoConnection fails the test if ln has a connection waiting: a dial
// that completed its handshake would have queued one.
func assertNoConnection(t *testing.T, ln net.Listener) {
	t.Helper()
	tl := ln.(*net.TCPListener)
	tl.SetDeadline(time.Now().Add(50 * time.Millisecond))
	defer tl.SetDeadline(time.Time{})
	c, err := tl.Accept()
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection from %s", ln.Addr(), c.RemoteAddr())
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("accept on %s: %v, want a timeout", ln.Addr(), err)
	}
}

// loopbackResolver returns a resolver that sends no packet: names not in
// /etc/hosts go to an in-process DNS server, over net.Pipe, that answers
// every A query with 127.0.0.1 and every AAAA query with ::1, as a hostile
// or rebinding DNS server would.
func loopbackResolver(t *testing.T) *net.Resolver {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			wg.Go(func() { serveDNS(server) })
			return client, nil
		},
	}
}

// serveDNS answers DNS queries in TCP framing (a 2-byte length before each
// message), which Go's resolver uses on a net.Conn that is not a
// net.PacketConn, until the client closes the connection.
func serveDNS(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := dnsAnswer(q)
		if resp == nil {
			return
		}
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...)); err != nil {
			return
		}
	}
}

// dnsAnswer builds the response to a one-question query: 127.0.0.1 for A,
// ::1 for AAAA, no answer for other types.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])

	var rdata []byte
	switch qtype {
	case 1: // A
		rdata = []byte{127, 0, 0, 1}
	case 28: // AAAA
		rdata = net.IPv6loopback
	}
	resp := []byte{q[0], q[1], 0x84 | q[2]&0x01, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}
	resp = append(resp, question...)
	if rdata != nil {
		resp[7] = 1 // one answer
		resp = append(resp, 0xc0, 12)
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = append(resp, 0, 1, 0, 0, 0, 60) // class IN, TTL 60 s
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

func BenchmarkCheck(b *testing.B) {
	addrs := []netip.Addr{
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("2606:4700::1111"),
		netip.MustParseAddr("10.1.2.3"),
	}
	var p webhook.AddressPolicy
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range addrs {
			_ = p.Check(a)
		}
	}
}
