package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/rebound-go/rebound/internal/cli"
)

// A script fetches a document: the body goes to stdout, and the exit code
// says how the call ended.
func ExampleCall() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"id": 7, "name": "Ada"}`)
	}))
	defer api.Close()

	code := cli.Call(context.Background(), []string{"--json", api.URL + "/v1/user/7"}, cli.IO{Stdout: os.Stdout, Stderr: os.Stdout})
	fmt.Println("exit", code)
	// Output:
	// {"id": 7, "name": "Ada"}
	// exit 0
}

// A 4xx is a logic error: it is not retried, its body still goes to
// stdout, and the exit code is 3.
func ExampleCall_logicError() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such user", http.StatusNotFound)
	}))
	defer api.Close()

	code := cli.Call(context.Background(), []string{api.URL + "/v1/user/8"}, cli.IO{Stdout: os.Stdout, Stderr: io.Discard})
	fmt.Println("exit", code)
	// Output:
	// no such user
	// exit 3
}
