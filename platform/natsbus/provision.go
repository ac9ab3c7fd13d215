package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// Stream settings: limits retention so any number of outside subscribers can read the events;
// the database, not the stream, is the record of every request, so old events may age out.
const (
	streamMaxAge    = 7 * 24 * time.Hour
	duplicateWindow = 2 * time.Minute
)

// WorkConsumer describes the durable consumer the calculators share.
type WorkConsumer struct {
	AckWait       time.Duration // how long a delivery may go without an ack or a heartbeat
	MaxAckPending int           // deliveries in flight across every replica
}

// Provision creates or updates the FACTORIAL stream and the calculator's durable consumer.
// It is idempotent, so every replica runs it at start.
func Provision(ctx context.Context, js jetstream.JetStream, wc WorkConsumer) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        events.Stream,
		Description: "factorial requests and results",
		Subjects:    []string{events.SubjectAll},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      streamMaxAge,
		Duplicates:  duplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("provision stream %s: %w", events.Stream, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
		Durable:       events.CalculatorDurable,
		Description:   "calculators: competing consumers of factorial.requested",
		FilterSubject: events.SubjectRequested,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       wc.AckWait,
		MaxDeliver:    -1, // the calculator gives up by itself after its own attempt limit
		MaxAckPending: wc.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("provision consumer %s: %w", events.CalculatorDurable, err)
	}
	return nil
}
