package calculator

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the calculator's spans.
const tracerName = "github.com/factorial-service/factorial/services/calculator"

// requestAttrs describe a delivery on the span that handles it.
func requestAttrs(req request) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.destination.name", req.msg.Subject()),
		attribute.Int64("factorial.number", req.n),
		attribute.String("factorial.lane", string(req.lane)),
		attribute.Int64("messaging.nats.delivery", int64(req.copies)),
	}
}

// endSpan ends span, marked failed with err when it is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
