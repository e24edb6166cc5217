// Package kafkasender produces outbox messages to Kafka with franz-go: an
// outbox.Sender.
package kafkasender
