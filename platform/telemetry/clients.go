package telemetry

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/aws/smithy-go"
	smithytracing "github.com/aws/smithy-go/tracing"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/extra/bunotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The clients' instrumentation, put in place only while tracing is Active (call these after
// Setup, where the clients are built): database queries (bunotel, the statements with their
// placeholders, never the values), Redis commands (redisotel) and S3 calls (the AWS SDK's
// own tracing, through AWSTracerProvider).

// InstrumentDB returns db with a span for every query: a copy of it sharing its pool while
// tracing is Active, db itself otherwise.
func InstrumentDB(db *bun.DB, name string) *bun.DB {
	if !Active() {
		return db
	}
	return db.WithQueryHook(bunotel.NewQueryHook(bunotel.WithDBName(name),
		bunotel.WithSpanNameQueryGen(func(e *bun.QueryEvent) string { return statementVerb(e.Query) })))
}

// statementVerb is the first word of a statement, upper-cased (SELECT, INSERT, UPDATE, WITH,
// …): the name of its span. bunotel names the spans of raw statements, which are most of the
// service's, SELECT whatever they do.
func statementVerb(query string) string {
	query = strings.TrimLeftFunc(query, unicode.IsSpace)
	end := strings.IndexFunc(query, func(r rune) bool { return unicode.IsSpace(r) || r == '(' })
	if end < 0 {
		end = len(query)
	}
	if end == 0 {
		return "query"
	}
	return strings.ToUpper(query[:end])
}

// InstrumentRedis adds a span to every command of client.
func InstrumentRedis(client redis.UniversalClient) error {
	if !Active() {
		return nil
	}
	if err := redisotel.InstrumentTracing(client); err != nil {
		return fmt.Errorf("trace redis: %w", err)
	}
	return nil
}

// AWSTracerProvider is the AWS SDK's tracing over OpenTelemetry's global provider (for
// aws.Config.TracerProvider), or nil while tracing is off (the SDK then traces nothing).
//
// The SDK's own adapter (smithy-go/tracing/smithyoteltracing) is a module the Go proxy
// does not serve here, and otelaws is deprecated: this is the adapter, a few lines.
func AWSTracerProvider() smithytracing.TracerProvider {
	if !Active() {
		return nil
	}
	return awsProvider{}
}

type awsProvider struct{}

func (awsProvider) Tracer(scope string, _ ...smithytracing.TracerOption) smithytracing.Tracer {
	return awsTracer{otel.Tracer(scope)}
}

type awsTracer struct{ t trace.Tracer }

func (t awsTracer) StartSpan(ctx context.Context, name string, opts ...smithytracing.SpanOption) (context.Context, smithytracing.Span) {
	var o smithytracing.SpanOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, span := t.t.Start(ctx, name, trace.WithSpanKind(kinds[o.Kind]), trace.WithAttributes(attrs(&o.Properties)...))
	return ctx, awsSpan{span, name}
}

var kinds = map[smithytracing.SpanKind]trace.SpanKind{
	smithytracing.SpanKindInternal: trace.SpanKindInternal,
	smithytracing.SpanKindClient:   trace.SpanKindClient,
	smithytracing.SpanKindServer:   trace.SpanKindServer,
	smithytracing.SpanKindProducer: trace.SpanKindProducer,
	smithytracing.SpanKindConsumer: trace.SpanKindConsumer,
}

type awsSpan struct {
	s    trace.Span
	name string
}

func (s awsSpan) Name() string { return s.name }

func (s awsSpan) Context() smithytracing.SpanContext {
	sc := s.s.SpanContext()
	return smithytracing.SpanContext{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), IsRemote: sc.IsRemote()}
}

func (s awsSpan) AddEvent(name string, opts ...smithytracing.EventOption) {
	var o smithytracing.EventOptions
	for _, opt := range opts {
		opt(&o)
	}
	s.s.AddEvent(name, trace.WithAttributes(attrs(&o.Properties)...))
}

func (s awsSpan) SetStatus(status smithytracing.SpanStatus) {
	switch status {
	case smithytracing.SpanStatusOK:
		s.s.SetStatus(codes.Ok, "")
	case smithytracing.SpanStatusError:
		s.s.SetStatus(codes.Error, "")
	}
}

func (s awsSpan) SetProperty(k, v any) { s.s.SetAttributes(attr(k, v)) }

func (s awsSpan) End() { s.s.End() }

func attrs(p *smithy.Properties) []attribute.KeyValue {
	var out []attribute.KeyValue
	for k, v := range p.Values() {
		out = append(out, attr(k, v))
	}
	return out
}

func attr(k, v any) attribute.KeyValue {
	key := fmt.Sprint(k)
	switch v := v.(type) {
	case string:
		return attribute.String(key, v)
	case bool:
		return attribute.Bool(key, v)
	case int:
		return attribute.Int(key, v)
	case int64:
		return attribute.Int64(key, v)
	case float64:
		return attribute.Float64(key, v)
	}
	return attribute.String(key, fmt.Sprint(v))
}
