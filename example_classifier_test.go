package rebound_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rebound-go/rebound"
)

var errOutOfStock = errors.New("out of stock")

// lockedError is a domain error: another order holds the row.
type lockedError struct{ row string }

func (e *lockedError) Error() string { return "row " + e.row + " locked" }

// A custom Classifier runs in front of the built-in rules. It decides the
// errors of its own domain, here one that retrying cannot fix and one that
// goes away, and returns ok=false for any other error, which the built-in
// rules then classify.
func ExampleClassifierFunc() {
	inventory := rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
		var locked *lockedError
		switch {
		case errors.Is(err, errOutOfStock):
			return rebound.Classification{Class: rebound.Logic}, true // permanent: never retried
		case errors.As(err, &locked):
			return rebound.Classification{Class: rebound.Response, Retryable: true}, true // transient
		}
		return rebound.Classification{}, false // not ours: the built-in rules decide
	})
	policy := rebound.Policy{
		Classifiers: []rebound.Classifier{inventory},
		Backoff:     rebound.Constant(0),
	}
	for _, failure := range []error{errOutOfStock, &lockedError{row: "sku-42"}, io.ErrUnexpectedEOF} {
		err := rebound.Run(context.Background(), policy, func(ctx context.Context) error {
			return fmt.Errorf("reserve: %w", failure)
		})
		var e *rebound.Error
		if errors.As(err, &e) {
			fmt.Printf("%v: %s, %s after %d attempts\n", failure, e.Class, e.Reason, e.Attempts)
		}
	}
	// Output:
	// out of stock: logic, permanent after 1 attempts
	// row sku-42 locked: response, exhausted after 3 attempts
	// unexpected EOF: connection, exhausted after 3 attempts
}
