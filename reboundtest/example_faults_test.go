package reboundtest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundsql"
	"github.com/rebound-go/rebound/reboundtest"
	"github.com/rebound-go/rebound/webhook"
)

// A blackholed server reads nothing and answers nothing. A client with a
// short read deadline gets a timeout, which rebound classifies as a
// Connection failure: retryable, and maybe processed.
func ExampleFaults_blackhole() {
	srv := httptest.NewUnstartedServer(hello)
	srv.Listener = reboundtest.NewListener(srv.Listener, reboundtest.Faults{Blackhole: true})
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	c := rebound.Classify(err)
	fmt.Println("timeout:", errors.Is(err, os.ErrDeadlineExceeded))
	fmt.Println("class:", c.Class, "- retryable:", c.Retryable, "- maybe processed:", c.MaybeProcessed)
	// Output:
	// timeout: true
	// class: connection - retryable: true - maybe processed: true
}

// Every read and write of the server's connections waits 10 ms: the
// exchange is slower, and completes.
func ExampleFaults_latency() {
	srv := httptest.NewUnstartedServer(hello)
	srv.Listener = reboundtest.NewListener(srv.Listener, reboundtest.Faults{Latency: 10 * time.Millisecond})
	srv.Start()
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	// Output:
	// 200 OK hello
}

// SlowClose makes Close wait before it closes: the peer reads the end of
// the stream only then. Here on one end of net.Pipe.
func ExampleFaults_slowClose() {
	mine, peer := net.Pipe()
	conn := reboundtest.NewConn(mine, reboundtest.Faults{SlowClose: 20 * time.Millisecond})
	closed := make(chan error, 1)
	go func() {
		io.WriteString(conn, "bye")
		closed <- conn.Close() // returns 20 ms later
	}()

	data, err := io.ReadAll(peer) // reads until the close
	fmt.Printf("peer read %q, %v\n", data, err)
	fmt.Println("close:", <-closed)
	// Output:
	// peer read "bye", <nil>
	// close: <nil>
}

// The server's connections are reset once they have written 1 KiB: a
// response of 64 KiB is cut. The client's error, whether it comes from the
// request or from reading the body, classifies as Connection.
func ExampleFaults_writeLimit() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 64<<10))
	}))
	srv.Listener = reboundtest.NewListener(srv.Listener, reboundtest.Faults{WriteLimit: 1 << 10})
	srv.Start()
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	fmt.Println("cut:", err != nil, "- class:", rebound.Classify(err).Class)
	// Output:
	// cut: true - class: connection
}

// The server's connections are reset once they have read 1 KiB: a GET
// fits, an upload of 4 KiB is cut. (Each request on its own connection, as
// the limit counts the bytes of a connection.)
func ExampleFaults_readLimit() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	srv.Listener = reboundtest.NewListener(srv.Listener, reboundtest.Faults{ReadLimit: 1 << 10})
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("GET:", resp.Status)
	_, err = client.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 4<<10)))
	fmt.Println("POST of 4 KiB: failed:", err != nil, "- class:", rebound.Classify(err).Class)
	// Output:
	// GET: 200 OK
	// POST of 4 KiB: failed: true - class: connection
}

// NewConn puts the faults on any net.Conn: here one end of net.Pipe, with
// a read limit of 5 bytes. The read that reaches the limit returns what
// fits; the next one resets the connection.
func ExampleNewConn() {
	mine, peer := net.Pipe()
	conn := reboundtest.NewConn(mine, reboundtest.Faults{ReadLimit: 5})
	go func() {
		io.WriteString(peer, "hello, world") // fails once conn is reset
		peer.Close()
	}()

	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	fmt.Printf("read %q, %v\n", buf[:n], err)
	_, err = conn.Read(buf)
	fmt.Println("then reset:", errors.Is(err, syscall.ECONNRESET), "- class:", rebound.Classify(err).Class)
	// Output:
	// read "hello", <nil>
	// then reset: true - class: connection
}

// Set changes the faults of a running server's listener, for the
// connections open and to come: the server goes down (every connection
// reset), then comes back.
func ExampleListener_Set() {
	srv := httptest.NewUnstartedServer(hello)
	l := reboundtest.NewListener(srv.Listener, reboundtest.Faults{})
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() string {
		resp, err := client.Get(srv.URL)
		if err != nil {
			return "error, class " + rebound.Classify(err).Class.String()
		}
		resp.Body.Close()
		return resp.Status
	}

	fmt.Println("up:", get())
	l.Set(reboundtest.Faults{Reset: true})
	fmt.Println("down:", get())
	l.Set(reboundtest.Faults{})
	fmt.Println("back:", get())
	// Output:
	// up: 200 OK
	// down: error, class connection
	// back: 200 OK
}

// openSQLite opens a SQLite database in a new directory through faults,
// and returns it with a function that closes it and removes the directory.
func openSQLite(faults *reboundtest.SQLFaults) (*sql.DB, func()) {
	dir, err := os.MkdirTemp("", "reboundtest-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := faults.OpenDB(&sqlite.Driver{}, "file:"+filepath.Join(dir, "test.db")+"?_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// The first UPDATE fails with a deadlock (SQLSTATE 40P01), which rolls the
// transaction back: reboundsql.RetryTx runs it again, and it commits once.
func ExampleSQLFaults_deadlock() {
	faults := reboundtest.NewSQLFaults(reboundtest.SQLRule{
		Op: reboundtest.SQLStatement, Nth: 1, Fault: reboundtest.SQLDeadlock,
		Match: func(query string) bool { return strings.HasPrefix(query, "UPDATE") },
	})
	db, done := openSQLite(faults)
	defer done()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE stock (sku TEXT PRIMARY KEY, n INTEGER)`)
	_, _ = db.ExecContext(ctx, `INSERT INTO stock VALUES ('X1', 10)`)

	runs := 0
	policy := rebound.Policy{MaxAttempts: 5, Backoff: rebound.Constant(time.Millisecond)}
	err := reboundsql.RetryTx(ctx, db, policy, func(ctx context.Context, tx *sql.Tx) error {
		runs++
		_, err := tx.ExecContext(ctx, `UPDATE stock SET n = n - 1 WHERE sku = 'X1'`)
		return err
	})
	var n int
	_ = db.QueryRowContext(ctx, `SELECT n FROM stock WHERE sku = 'X1'`).Scan(&n)
	c := faults.Counts()
	fmt.Println("err:", err, "- runs:", runs, "- stock:", n)
	fmt.Println("commits:", c.Commits, "- rollbacks:", c.Rollbacks, "- faults:", c.Faults)
	// Output:
	// err: <nil> - runs: 2 - stock: 9
	// commits: 1 - rollbacks: 1 - faults: 1
}

// The connection is lost right after the COMMIT was applied: the ambiguous
// commit. reboundsql.RetryTx does not run the transaction again, which
// would insert the order twice; its error says the outcome is unknown, and
// the order is there.
func ExampleSQLFaults_ambiguousCommit() {
	faults := reboundtest.NewSQLFaults(reboundtest.SQLRule{
		Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLConnLostAfter,
	})
	db, done := openSQLite(faults)
	defer done()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`)

	runs := 0
	policy := rebound.Policy{MaxAttempts: 5, Backoff: rebound.Constant(time.Millisecond)}
	err := reboundsql.RetryTx(ctx, db, policy, func(ctx context.Context, tx *sql.Tx) error {
		runs++
		_, err := tx.ExecContext(ctx, `INSERT INTO orders VALUES ('o-1')`)
		return err
	})
	var orders int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&orders)
	fmt.Println("commit unknown:", errors.Is(err, reboundsql.ErrCommitUnknown), "- runs:", runs, "- orders:", orders)
	// Output:
	// commit unknown: true - runs: 1 - orders: 1
}

// A receiver that refuses the first two deliveries of each message with a
// 503. A sender that retries (here reboundhttp's client: a 503 says the
// request was not processed, so even a POST is retried) gets the message
// through at its third delivery; a refused delivery retried is not a
// duplicate.
func ExampleWebhookFailFirst() {
	secret := webhook.NewSecret()
	receiver := reboundtest.NewWebhookReceiver(secret)
	receiver.Fail = reboundtest.WebhookFailFirst(2, http.StatusServiceUnavailable)
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	key, _ := webhook.ParseSecret(secret)
	body, now := []byte(`{"order":1}`), time.Now()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderID, "msg_1")
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{key}, "msg_1", now, body))
	client, _ := reboundhttp.NewClient(reboundhttp.Config{Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	fmt.Println(resp.Status)
	for _, d := range receiver.Deliveries() {
		fmt.Println("delivery", d.Nth, "of", d.ID, "-", d.Status, "- accepted:", d.Accepted())
	}
	fmt.Println("duplicates:", len(receiver.Duplicates()))
	// Output:
	// 204 No Content
	// delivery 1 of msg_1 - 503 - accepted: false
	// delivery 2 of msg_1 - 503 - accepted: false
	// delivery 3 of msg_1 - 204 - accepted: true
	// duplicates: 0
}
