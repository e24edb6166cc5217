// The SSRF guard for deliveries.
//
// Webhook URLs are supplied by users, so a delivery is a request the user
// makes from inside our network: to the cloud metadata service at
// 169.254.169.254, to a database on 10.0.0.5, to an admin port on
// localhost. Checking the URL's host before the request is not enough. A
// name can resolve to a public address when checked and to 127.0.0.1 when
// dialled (DNS rebinding); a redirect can point anywhere; and one address
// has many spellings: 2130706433, 0x7f000001 and 0177.0.0.1 reach 127.0.0.1
// through some resolvers, and ::ffff:127.0.0.1, 64:ff9b::7f00:1 and
// 2002:7f00:1:: reach it (or a relay's loopback) over IPv6.
//
// AddressPolicy therefore checks the address actually being connected to:
// its Control runs in net.Dialer after the name is resolved and the socket
// is created, just before connect(2), for every address the dialer tries
// and for every connection, redirects included. It refuses loopback,
// private, link-local, shared (CGNAT), multicast, broadcast, documentation,
// benchmarking and reserved ranges, and every IPv6 address outside the
// global unicast block 2000::/3; IPv4-mapped addresses are unmapped first,
// and NAT64 and 6to4 addresses are judged by the IPv4 address they embed.
//
// Use the Dialer with an http.Transport whose Proxy is nil: through a proxy
// the dialled address is the proxy's, and the proxy must do this filtering
// itself.

package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// dialTimeout bounds connection setup of AddressPolicy.Dialer.
const dialTimeout = 10 * time.Second

// ErrAddressRefused is the sentinel of AddressPolicy refusals:
// errors.Is(err, ErrAddressRefused) holds for a dial or HTTP error caused by
// the policy. A refused address is a permanent failure of the endpoint, not
// a transient one.
var ErrAddressRefused = errors.New("webhook: address refused")

// AddressError reports an address that AddressPolicy refused. It unwraps to
// ErrAddressRefused.
type AddressError struct {
	// Addr is the refused address, as given to Check.
	Addr netip.Addr
	// Embedded is the IPv4 address inside a NAT64 or 6to4 Addr that caused
	// the refusal; it is the zero Addr otherwise.
	Embedded netip.Addr
	// Range is the reserved range that Addr (or Embedded) is in, and Name
	// says what it is, such as "loopback". Both are zero for an invalid
	// Addr.
	Range netip.Prefix
	Name  string
}

func (e *AddressError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return "webhook: refusing to dial an invalid address"
	case e.Embedded.IsValid():
		return "webhook: refusing to dial " + e.Addr.String() + ": it embeds " + e.Embedded.String() + ", " + e.Name + " (" + e.Range.String() + ")"
	}
	return "webhook: refusing to dial " + e.Addr.String() + ": " + e.Name + " (" + e.Range.String() + ")"
}

func (e *AddressError) Unwrap() error { return ErrAddressRefused }

// AddressPolicy decides which IP addresses deliveries may connect to.
//
// The zero AddressPolicy refuses every reserved range listed in this file
// and allows every other address. It is safe for concurrent use as long as
// Allow is not modified.
type AddressPolicy struct {
	// Allow lists prefixes that are permitted even though reserved, for
	// example 127.0.0.0/8 and ::1/128 in tests, or an internal range for
	// a deliberately internal endpoint. An address is allowed when it is
	// in one of them, either as given or unmapped from ::ffff:a.b.c.d.
	// Allow applies to the dialled address only: allowing 127.0.0.0/8 does
	// not allow 64:ff9b::7f00:1, which reaches 127.0.0.1 of some NAT64
	// gateway. Invalid prefixes match nothing. The default is empty.
	Allow []netip.Prefix
}

// Check reports whether ip may be dialled: nil, or an *AddressError naming
// the address and the reserved range it is in. An IPv6 zone is ignored.
func (p AddressPolicy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return &AddressError{}
	}
	a := ip.WithZone("")
	for _, pfx := range p.Allow {
		if pfx.Contains(a) || pfx.Contains(a.Unmap()) {
			return nil
		}
	}
	a = a.Unmap()
	r, ok := reservedRange(a)
	if !ok {
		return nil
	}
	if r.embedded == nil {
		return &AddressError{Addr: ip, Range: r.prefix, Name: r.name}
	}
	v4 := r.embedded(a)
	if er, ok := reservedRange(v4); ok {
		return &AddressError{Addr: ip, Embedded: v4, Range: er.prefix, Name: er.name}
	}
	return nil
}

// Control applies Check to the address a net.Dialer is about to connect to,
// after name resolution: set it as net.Dialer.Control (Dialer does). It
// refuses networks other than TCP and UDP and addresses that are not a
// literal IP and port. Its errors wrap ErrAddressRefused; the dialer wraps
// them in a *net.OpError.
func (p AddressPolicy) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("%w: network %s is not TCP or UDP", ErrAddressRefused, strconv.Quote(network))
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address and port: %v", ErrAddressRefused, strconv.Quote(address), err)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a new *net.Dialer whose Control is p.Control, with a copy
// of Allow, a 10 s Timeout and the default keep-alive. Plug its DialContext
// into an http.Transport with a nil Proxy. Do not set the dialer's
// ControlContext: it would replace Control.
func (p AddressPolicy) Dialer() *net.Dialer {
	q := AddressPolicy{Allow: slices.Clone(p.Allow)}
	return &net.Dialer{Timeout: dialTimeout, Control: q.Control}
}

type addrRange struct {
	prefix netip.Prefix
	name   string
	// embedded, when set, extracts the IPv4 address carried by an address
	// in prefix; the address is then judged by that IPv4 address.
	embedded func(netip.Addr) netip.Addr
}

// reservedRanges lists the ranges Check refuses, the more specific first
// so the error names the most precise range. Sources: the IANA IPv4 and
// IPv6 Special-Purpose Address Registries, RFC 6890, and the IPv6 address
// space registry, in which only 2000::/3 is global unicast.
var reservedRanges = []addrRange{
	// IPv4.
	{prefix: pfx("0.0.0.0/32"), name: "unspecified"},
	{prefix: pfx("0.0.0.0/8"), name: `"this network"`},
	{prefix: pfx("10.0.0.0/8"), name: "private (RFC 1918)"},
	{prefix: pfx("100.64.0.0/10"), name: "shared address space (CGNAT, RFC 6598)"},
	{prefix: pfx("127.0.0.0/8"), name: "loopback"},
	{prefix: pfx("169.254.169.254/32"), name: "cloud metadata service (link-local)"},
	{prefix: pfx("169.254.0.0/16"), name: "link-local"},
	{prefix: pfx("172.16.0.0/12"), name: "private (RFC 1918)"},
	{prefix: pfx("192.0.0.0/24"), name: "IETF protocol assignments"},
	{prefix: pfx("192.0.2.0/24"), name: "documentation (TEST-NET-1)"},
	{prefix: pfx("192.88.99.0/24"), name: "6to4 relay anycast (deprecated)"},
	{prefix: pfx("192.168.0.0/16"), name: "private (RFC 1918)"},
	{prefix: pfx("198.18.0.0/15"), name: "benchmarking (RFC 2544)"},
	{prefix: pfx("198.51.100.0/24"), name: "documentation (TEST-NET-2)"},
	{prefix: pfx("203.0.113.0/24"), name: "documentation (TEST-NET-3)"},
	{prefix: pfx("224.0.0.0/4"), name: "multicast"},
	{prefix: pfx("255.255.255.255/32"), name: "limited broadcast"},
	{prefix: pfx("240.0.0.0/4"), name: "reserved (class E)"},

	// IPv6. IPv4-mapped addresses (::ffff:0:0/96) never get here: Check
	// unmaps them first.
	{prefix: pfx("::/128"), name: "unspecified"},
	{prefix: pfx("::1/128"), name: "loopback"},
	{prefix: pfx("::ffff:0:0:0/96"), name: "IPv4-translated (RFC 2765)"},
	{prefix: pfx("::/96"), name: "IPv4-compatible (deprecated)"},
	{prefix: pfx("64:ff9b::/96"), name: "NAT64", embedded: last32},
	{prefix: pfx("64:ff9b:1::/48"), name: "local-use NAT64 (RFC 8215)"},
	{prefix: pfx("100::/64"), name: "discard-only (RFC 6666)"},
	{prefix: pfx("2001::/32"), name: "Teredo"},
	{prefix: pfx("2001:2::/48"), name: "benchmarking (RFC 5180)"},
	{prefix: pfx("2001:db8::/32"), name: "documentation"},
	{prefix: pfx("2001::/23"), name: "IETF protocol assignments"},
	{prefix: pfx("2002::/16"), name: "6to4", embedded: sixToFour},
	{prefix: pfx("3fff::/20"), name: "documentation (RFC 9637)"},
	{prefix: pfx("fc00::/7"), name: "unique local (includes the fd00:ec2::254 metadata service)"},
	{prefix: pfx("fe80::/10"), name: "link-local"},
	{prefix: pfx("fec0::/10"), name: "site-local (deprecated)"},
	{prefix: pfx("ff00::/8"), name: "multicast"},
	{prefix: pfx("::/3"), name: "not global unicast (outside 2000::/3)"},
	{prefix: pfx("4000::/2"), name: "not global unicast (outside 2000::/3)"},
	{prefix: pfx("8000::/1"), name: "not global unicast (outside 2000::/3)"},
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func reservedRange(a netip.Addr) (addrRange, bool) {
	for _, r := range reservedRanges {
		if r.prefix.Contains(a) {
			return r, true
		}
	}
	return addrRange{}, false
}

// last32 returns the IPv4 address in the last 32 bits of a, as the NAT64
// well-known prefix 64:ff9b::/96 carries it (RFC 6052).
func last32(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// sixToFour returns the IPv4 address in bits 16 to 47 of a 2002::/16
// address (RFC 3056).
func sixToFour(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[2:6]))
}
