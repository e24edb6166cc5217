package reboundsql_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundsql"
)

func TestSQLState(t *testing.T) {
	serialization := &pgError{"40001"}
	for _, tc := range []struct {
		name          string
		err           error
		code          string
		serialization bool
		deadlock      bool
	}{
		{"nil", nil, "", false, false},
		{"no SQLSTATE", io.EOF, "", false, false},
		{"serialization failure", serialization, "40001", true, false},
		{"deadlock", &pgError{"40P01"}, "40P01", false, true},
		{"unique violation", &pgError{"23505"}, "23505", false, false},
		{"wrapped", fmt.Errorf("insert: %w", serialization), "40001", true, false},
		{"joined", errors.Join(io.EOF, fmt.Errorf("update: %w", &pgError{"40P01"})), "40P01", false, true},
		{"marked", rebound.Permanent(serialization), "40001", true, false},
		{"first in chain", fmt.Errorf("%w", errors.Join(&pgError{"23505"}, serialization)), "23505", false, false},
		{"inside a rebound.Error", &rebound.Error{Reason: rebound.ReasonExhausted, Last: serialization}, "40001", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reboundsql.SQLState(tc.err); got != tc.code {
				t.Errorf("SQLState = %q, want %q", got, tc.code)
			}
			if got := reboundsql.IsSerializationFailure(tc.err); got != tc.serialization {
				t.Errorf("IsSerializationFailure = %v, want %v", got, tc.serialization)
			}
			if got := reboundsql.IsDeadlock(tc.err); got != tc.deadlock {
				t.Errorf("IsDeadlock = %v, want %v", got, tc.deadlock)
			}
		})
	}
}
