//go:build !unix

package reboundnet_test

import (
	"net"
	"testing"
)

// closedPort returns a loopback address nothing listens on (another
// listener may take it meanwhile: on unix, port_unix_test.go keeps it).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
