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

// topology names the stream, its subjects and the work consumer. The services always use
// defaultTopology; tests on a shared NATS server use names of their own, so that parallel
// runs never meet each other (or a real FACTORIAL stream).
type topology struct {
	stream    string // FACTORIAL
	subjects  string // factorial.>
	requested string // factorial.requested: what the work consumer reads
	durable   string // calculator
}

var defaultTopology = topology{
	stream:    events.Stream,
	subjects:  events.SubjectAll,
	requested: events.SubjectRequested,
	durable:   events.CalculatorDurable,
}

// Provision creates or updates the FACTORIAL stream and the calculator's durable consumer.
// It is idempotent, so every replica runs it at start.
func Provision(ctx context.Context, js jetstream.JetStream, wc WorkConsumer) error {
	return provision(ctx, js, defaultTopology, wc)
}

// ProvisionStream creates or updates the FACTORIAL stream alone: what the API needs to
// publish and follow events, whether or not a calculator has started yet.
func ProvisionStream(ctx context.Context, js jetstream.JetStream) error {
	return provisionStream(ctx, js, defaultTopology)
}

func provision(ctx context.Context, js jetstream.JetStream, topo topology, wc WorkConsumer) error {
	if err := provisionStream(ctx, js, topo); err != nil {
		return err
	}
	_, err := js.CreateOrUpdateConsumer(ctx, topo.stream, jetstream.ConsumerConfig{
		Durable:       topo.durable,
		Description:   "calculators: competing consumers of " + topo.requested,
		FilterSubject: topo.requested,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       wc.AckWait,
		MaxDeliver:    -1, // the calculator gives up by itself after its own attempt limit
		MaxAckPending: wc.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("provision consumer %s: %w", topo.durable, err)
	}
	return nil
}

func provisionStream(ctx context.Context, js jetstream.JetStream, topo topology) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        topo.stream,
		Description: "factorial requests and results",
		Subjects:    []string{topo.subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      streamMaxAge,
		Duplicates:  duplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("provision stream %s: %w", topo.stream, err)
	}
	return nil
}
