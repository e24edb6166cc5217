package reboundprom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundprom"
)

// The metrics go to a registry the caller owns, never the global one: here
// a fresh prometheus.NewRegistry, gathered after one call that succeeded on
// its third attempt. Both statuses of the guide's retry counter exist from
// the endpoint's first call.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	metrics, err := reboundprom.New(reboundprom.Config{Registerer: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	policy := rebound.Policy{
		Endpoint: "api/v1/user",
		Observer: metrics,
		Backoff:  rebound.Constant(0),
	}
	attempts := 0
	_ = rebound.Run(context.Background(), policy, func(ctx context.Context) error {
		if attempts++; attempts < 3 {
			return rebound.Transient(errors.New("row locked"))
		}
		return nil
	})

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range families {
		if mf.GetName() != "http_request_retries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Printf("%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue())
		}
	}
	// Output:
	// http_request_retries_total{endpoint="api/v1/user",status="failed"} 0
	// http_request_retries_total{endpoint="api/v1/user",status="succeeded"} 2
}
