package idempotency_test

import (
	"testing"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencytest"
)

func TestMemoryStoreConformance(t *testing.T) {
	idempotencytest.Run(t, func(*testing.T) idempotency.Store { return &idempotency.MemoryStore{} }, idempotencytest.Options{})
}
