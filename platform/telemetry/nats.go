package telemetry

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// NATSCarrier lets the propagator read and write a NATS message's headers. Unlike
// propagation.HeaderCarrier it keeps the keys as written: NATS headers are case-sensitive, and
// an outside subscriber looks for `traceparent`, not `Traceparent`.
type NATSCarrier nats.Header

var _ propagation.TextMapCarrier = NATSCarrier(nil)

// Get returns the first value of key.
func (c NATSCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces the values of key.
func (c NATSCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c NATSCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx (traceparent, tracestate, baggage) into the
// headers of msg, creating them when msg has none. Without a span in ctx it writes nothing.
func Inject(ctx context.Context, msg *nats.Msg) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	Propagator.Inject(ctx, NATSCarrier(msg.Header))
}

// Extract returns ctx carrying the remote trace context found in the headers h (for a
// jetstream.Msg, its Headers()), so a span started from it continues the sender's trace.
// Headers without a traceparent leave ctx as it is.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, NATSCarrier(h))
}
