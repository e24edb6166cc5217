package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Problem is an RFC 9457 problem+json error body. Field names the
// offending request field, when there is one.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

const problemType = "tag:github.com/rebound-go/rebound,2026:api/"

func writeProblem(w http.ResponseWriter, status int, typ, title, detail, field string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: problemType + typ, Title: title, Status: status, Detail: detail, Field: field})
}

func badField(w http.ResponseWriter, field, detail string) {
	writeProblem(w, http.StatusBadRequest, "invalid-field", "Invalid field", detail, field)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Unavailable answers 503 with a problem+json body of type
// store-unavailable, for a request that needs a store that cannot be used
// yet, and Retry-After: wait rounded up to whole seconds, at least 1.
func Unavailable(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeProblem(w, http.StatusServiceUnavailable, "store-unavailable", "Store unavailable",
		"The relay cannot reach its store yet; retry after the number of seconds in Retry-After.", "")
}
