package reboundsql

import (
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/rebound-go/rebound"
)

// The SQLSTATE codes RetryTx acts on.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// SQLState returns the SQLSTATE code of the first error in err's chain that
// has a SQLState() string method, such as pgx's *pgconn.PgError, or "" when
// there is none.
func SQLState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

// IsSerializationFailure reports whether err carries SQLSTATE 40001
// (serialization_failure): PostgreSQL rolled the transaction back because it
// conflicted with a concurrent one, and running it again may succeed.
func IsSerializationFailure(err error) bool { return SQLState(err) == codeSerializationFailure }

// IsDeadlock reports whether err carries SQLSTATE 40P01 (deadlock_detected):
// PostgreSQL rolled the transaction back to break a deadlock, and running it
// again may succeed.
func IsDeadlock(err error) bool { return SQLState(err) == codeDeadlockDetected }

// rolledBack reports whether code says that the server rolled the
// transaction back and that running it again may succeed.
func rolledBack(code string) bool {
	return code == codeSerializationFailure || code == codeDeadlockDetected
}

// lostSession reports whether code says that the session ended or could not
// start: a connection exception (class 08) or the server shutting down
// (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
// The open transaction, if any, is rolled back with the session.
func lostSession(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// classifier is the rebound.Classifier RetryTx puts in front of the
// policy's own. It decides ambiguous commits, rolled-back transactions and
// lost sessions, and leaves every other error to the policy. RetryTx only
// hands it errors of BeginTx, of fn and of COMMIT, and wraps the last unless
// the server rolled the transaction back; so every error it retries comes
// from a transaction that did not commit.
type classifier struct{}

func (classifier) Classify(err error) (rebound.Classification, bool) {
	var ce *commitError
	if errors.As(err, &ce) {
		return ce.Classification(), true
	}
	code := SQLState(err)
	switch {
	case rolledBack(code):
		// The server answered, and undid the transaction.
		return rebound.Classification{Class: rebound.Response, Retryable: true}, true
	case lostSession(code), errors.Is(err, driver.ErrBadConn):
		return rebound.Classification{Class: rebound.Connection, Retryable: true}, true
	}
	return rebound.Classification{}, false
}
