package reboundnet_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundnet"
)

// lineServer is a line-protocol server on loopback TCP: a client sends
// "SUB topic\n", and the server then writes it "MSG topic n\n" lines as
// publish says.
type lineServer struct {
	addr       string
	ln         net.Listener
	subscribed chan string // the topic, each time a client subscribes
	wg         sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]string // open connections → topic ("" until SUB)
	closed bool
}

// startLineServer listens on addr ("127.0.0.1:0" for any port).
func startLineServer(addr string) (*lineServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &lineServer{addr: ln.Addr().String(), ln: ln, subscribed: make(chan string, 10), conns: map[net.Conn]string{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.conns[c] = ""
			s.wg.Add(1)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *lineServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	topic, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "SUB ")
	if err != nil || !ok {
		return
	}
	s.mu.Lock()
	s.conns[c] = topic
	s.mu.Unlock()
	s.subscribed <- topic
	_, _ = io.Copy(io.Discard, r) // until the client or the server closes
}

// publish writes message n of topic to its subscribers.
func (s *lineServer) publish(topic string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, t := range s.conns {
		if t == topic {
			fmt.Fprintf(c, "MSG %s %d\n", topic, n)
		}
	}
}

// stop closes the listener and every connection, as a server going down
// does, and waits for its goroutines.
func (s *lineServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// subscribe is a Session of the line protocol: it subscribes to news and
// hands each line it reads to got.
func subscribe(got chan<- string) func(context.Context, net.Conn) error {
	return func(ctx context.Context, conn net.Conn) error {
		if _, err := io.WriteString(conn, "SUB news\n"); err != nil {
			return err
		}
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			select {
			case got <- sc.Text():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return sc.Err() // nil when the server closed the connection: reconnect
	}
}

// receive returns the next value of c, or panics after a generous bound.
func receive[T any](c <-chan T) T {
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		panic("nothing received in 10 s")
	}
}

// A line-protocol client that survives its server's restarts: the
// supervisor dials, the Session subscribes and reads, and when the server
// goes away, the supervisor dials again until it is back, and the Session
// subscribes anew.
func ExampleSupervisor() {
	srv, err := startLineServer("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	// One dial per attempt: the supervisor's backoff paces the redials.
	dialer, err := reboundnet.NewDialer(reboundnet.DialerConfig{Policy: rebound.Policy{MaxAttempts: 1}})
	if err != nil {
		panic(err)
	}
	got := make(chan string)
	sup, err := reboundnet.NewSupervisor(reboundnet.SupervisorConfig{
		Name:    "news feed",
		Dial:    dialer.To("tcp", srv.addr),
		Session: subscribe(got),
		Backoff: rebound.Constant(10 * time.Millisecond),
	})
	if err != nil {
		panic(err)
	}
	if err := sup.Start(context.Background()); err != nil {
		panic(err)
	}
	defer sup.Stop(context.Background())

	fmt.Println("subscribed to", receive(srv.subscribed))
	srv.publish("news", 1)
	fmt.Println("got", receive(got))

	srv.stop()
	if srv, err = startLineServer(srv.addr); err != nil { // the same address
		panic(err)
	}
	defer srv.stop()
	fmt.Println("server restarted")

	fmt.Println("subscribed to", receive(srv.subscribed))
	srv.publish("news", 2)
	fmt.Println("got", receive(got))
	// Output:
	// subscribed to news
	// got MSG news 1
	// server restarted
	// subscribed to news
	// got MSG news 2
}

// A Dialer as an http.Transport's DialContext: the transport's dials are
// retried under the policy, and labelled "tcp host:port" in its events.
func ExampleDialer() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer api.Close()

	dialer, err := reboundnet.NewDialer(reboundnet.DialerConfig{
		Policy: rebound.Policy{Backoff: rebound.Constant(10 * time.Millisecond)},
	})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(api.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK ok
}
