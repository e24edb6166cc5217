package alert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/alert"
)

// printer is a Notifier that prints what it is told and signals it.
type printer chan struct{}

func (printer) Name() string { return "printer" }
func (p printer) Notify(_ context.Context, a alert.Alert) error {
	fmt.Println(a.State, a.Name, a.Endpoint)
	p <- struct{}{}
	return nil
}

// The alerter watches the calls of a policy and notifies when an endpoint
// keeps failing, then when it recovers.
func Example() {
	notified := make(printer)
	alerter, _ := alert.New(alert.Config{
		Interval:  10 * time.Millisecond,
		Window:    time.Second,
		Notifiers: []alert.Notifier{notified},
		Rules:     alert.Rules{ConsecutiveFailures: alert.Rule{Threshold: 3, For: -1}},
	})
	_ = alerter.Start(context.Background())
	defer alerter.Stop(context.Background())

	policy := rebound.Policy{Endpoint: "inventory", Observer: alerter}
	for i := 0; i < 3; i++ {
		_ = rebound.Run(context.Background(), policy, func(context.Context) error {
			return rebound.Permanent(fmt.Errorf("409 conflict"))
		})
	}
	<-notified
	_ = rebound.Run(context.Background(), policy, func(context.Context) error { return nil })
	<-notified
	// Output:
	// firing ReboundEndpointConsecutiveFailures inventory
	// resolved ReboundEndpointConsecutiveFailures inventory
}
