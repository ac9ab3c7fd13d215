package telemetry

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
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

// HeaderRequestID carries the id of the HTTP request a message was sent for, so that the
// calculator's log lines about it name the request (request_id) as the API's do.
const HeaderRequestID = "X-Request-Id"

// maxRequestID bounds a request id read from a message (the API's are at most 64 bytes).
const maxRequestID = 64

// Inject writes the trace context of ctx (traceparent, tracestate, baggage) and its request
// id into the headers of msg, creating them when msg has none. Without a span or request id
// in ctx it writes nothing.
func Inject(ctx context.Context, msg *nats.Msg) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	inject(ctx, msg.Header)
}

func inject(ctx context.Context, h nats.Header) {
	Propagator.Inject(ctx, NATSCarrier(h))
	if id := RequestID(ctx); id != "" {
		h.Set(HeaderRequestID, id)
	}
}

// Headers returns new message headers carrying the trace context and request id of ctx, or
// nil when it has neither.
func Headers(ctx context.Context) nats.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() && RequestID(ctx) == "" {
		return nil
	}
	h := nats.Header{}
	inject(ctx, h)
	return h
}

// Extract returns ctx carrying the remote trace context and the request id found in the
// headers h (for a jetstream.Msg, its Headers()), so a span started from it continues the
// sender's trace and log lines name the request. Headers without them leave ctx as it is.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	if id := h.Get(HeaderRequestID); len(id) <= maxRequestID {
		ctx = WithRequestID(ctx, id)
	}
	return Propagator.Extract(ctx, NATSCarrier(h))
}
