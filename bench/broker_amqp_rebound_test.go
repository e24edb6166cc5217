package bench

import (
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

// rebound's RabbitMQ sender at its defaults, publishing destination
// "orders" to the run's queue through the default exchange.
func init() {
	newReboundAMQPSender = func(url, queue string) (outbox.Sender, func(), error) {
		s, err := amqpsender.New(amqpsender.Config{
			URL:          url,
			Destinations: map[string]amqpsender.Destination{destination: {Exchange: "", RoutingKey: queue}},
		})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	}
}
