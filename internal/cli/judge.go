package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// judge classifies each response for the transport: the default status
// rule, and with --json the guide's body rule. It remembers what it saw of
// the last response, which progress reads on the same goroutine when the
// attempt's event follows.
type judge struct {
	json bool
	// status is the last response's status line, such as "200 OK".
	status string
	// note says why the last response's 2xx body failed --json, or "".
	note string
}

func (j *judge) classify(resp *http.Response) (rebound.Classification, bool) {
	j.status, j.note = statusOf(resp), ""
	c, failed := reboundhttp.DefaultClassifyResponse(resp)
	if failed || !j.json || !wantsJSONBody(resp) {
		return c, failed
	}
	// Read the body inside the attempt, so that a bad one is retried, and
	// hand the bytes on.
	body, err := io.ReadAll(io.LimitReader(resp.Body, reboundhttp.DefaultMaxJSONBody+1))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case err != nil:
		j.note = "reading the body: " + err.Error()
		return rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}, true
	case len(body) > reboundhttp.DefaultMaxJSONBody:
		j.note = "body exceeds " + strconv.Itoa(reboundhttp.DefaultMaxJSONBody) + " bytes"
		return rebound.Classification{Class: rebound.Logic}, true
	case len(bytes.TrimSpace(body)) == 0:
		j.note = "empty body, want JSON"
	case !json.Valid(body):
		j.note = "body is not JSON: " + json.Unmarshal(body, new(json.RawMessage)).Error()
	default:
		return c, false
	}
	return rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}, true
}

// wantsJSONBody reports whether --json applies to resp: a 2xx other than
// 204 and 205, to a request other than HEAD.
func wantsJSONBody(resp *http.Response) bool {
	if resp.StatusCode < 200 || resp.StatusCode > 299 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusResetContent {
		return false
	}
	return resp.Request == nil || resp.Request.Method != http.MethodHead
}

// statusOf is resp's status line without the protocol, such as "200 OK".
func statusOf(resp *http.Response) string {
	if resp.Status != "" {
		return resp.Status
	}
	return strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
}
