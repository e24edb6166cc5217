package kafkasender_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox/kafkasender"
)

// bubbleCluster starts a cluster on an in-memory network, in the calling
// synctest bubble, and a client of it; closing both is the caller's (in
// the bubble: the bubble ends only when their goroutines have).
func bubbleCluster(t *testing.T) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	var vn kfake.VirtualNetwork
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.ListenFn(vn.Listen))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.Dialer(vn.DialContext))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, cl
}

// The schedule of a Send, on a fake clock: it waits for the broker's ack
// as long as the ack takes, up to Config.Timeout or the caller's
// deadline, whichever is first; then it returns a Connection error that
// may have been processed, and closing the client ends what it left.
func TestSendSchedule(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answerIn time.Duration // 0: never
		deadline time.Duration // the caller's; 0: none
		wantAt   time.Duration
		wantErr  bool
	}{
		{"ack after 2 s", 2 * time.Second, 0, 2 * time.Second, false},
		{"no ack: Timeout", 0, 0, 3 * time.Second, true},
		{"ack after Timeout", 4 * time.Second, 0, 3 * time.Second, true},
		{"no ack: the caller's deadline first", 0, time.Second, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, cl := bubbleCluster(t)
				defer c.Close()
				defer cl.Close()
				s, err := kafkasender.New(kafkasender.Config{Client: cl, Destinations: map[string]kafkasender.Destination{"orders": {Topic: "orders"}}, Timeout: 3 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				// Metadata and the producer ID first, so that the
				// schedule is the produce's alone.
				if err := s.Send(ctx, delivery("warm", "", "x")); err != nil {
					t.Fatal(err)
				}
				c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
					if tc.answerIn == 0 {
						return nil, nil, true // read, never answered
					}
					c.SleepControl(func() { time.Sleep(tc.answerIn) })
					return nil, nil, false // then written and answered as usual
				})
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				start := time.Now()
				err = s.Send(ctx, delivery("m", "k", "x"))
				if at := time.Since(start); at != tc.wantAt {
					t.Errorf("Send returned after %v, want %v", at, tc.wantAt)
				}
				if !tc.wantErr {
					if err != nil {
						t.Errorf("Send: %v", err)
					}
					return
				}
				if tc.answerIn > 0 {
					// The client kept the record: the late ack
					// writes it, once (the relay's retry would be a
					// second record).
					time.Sleep(tc.answerIn - time.Since(start))
					synctest.Wait()
					if hw := c.PartitionInfo("orders", 0).HighWatermark; hw != 2 {
						t.Errorf("after the late ack the topic holds %d records, want 2", hw)
					}
				}
				var ke *kafkasender.Error
				cls := rebound.Classify(err)
				if !errors.As(err, &ke) || !errors.Is(err, context.DeadlineExceeded) || cls.Class != rebound.Connection || !cls.Retryable || !cls.MaybeProcessed {
					t.Errorf("Send: %v, %+v; want a deadline as a Connection error, maybe processed", err, cls)
				}
			})
		})
	}
}
