//go:build unix

package reboundnet_test

import (
	"strconv"
	"syscall"
	"testing"
)

// closedPort returns a loopback address that refuses connections: a
// socket is bound to it but does not listen, so that no listener on port
// 0 can be given the port while the test runs (a port closed after Listen
// can be taken by the next test's listener, and a dial meant to be
// refused then succeeds).
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	// SO_REUSEADDR, as net.Listen sets it too, so that a test may still
	// listen on the port itself (the kernel lets a listener join a bound
	// socket that does not listen); listeners on port 0 are not given it.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
}
