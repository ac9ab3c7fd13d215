package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// The ids of a request travel in NATS headers: traceparent and X-Request-Id.
func TestHeadersCarryTheRequestID(t *testing.T) {
	if h := telemetry.Headers(context.Background()); h != nil {
		t.Fatalf("headers %v without a span or a request id", h)
	}
	tp := newProcess(t).tp
	ctx, span := tp.Tracer("t").Start(telemetry.WithRequestID(context.Background(), "req-7"), "POST")
	defer span.End()
	h := telemetry.Headers(ctx)
	if h.Get(telemetry.HeaderRequestID) != "req-7" || !strings.Contains(h.Get("traceparent"), span.SpanContext().TraceID().String()) {
		t.Fatalf("headers %v; want X-Request-Id req-7 and the traceparent of the span", h)
	}
	got := telemetry.Extract(context.Background(), h)
	if telemetry.RequestID(got) != "req-7" || trace.SpanContextFromContext(got).TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("extracted request id %q, trace %s", telemetry.RequestID(got), trace.SpanContextFromContext(got).TraceID())
	}
	long := nats.Header{telemetry.HeaderRequestID: {strings.Repeat("x", 65)}}
	if id := telemetry.RequestID(telemetry.Extract(context.Background(), long)); id != "" {
		t.Errorf("a request id of 65 bytes was taken: %q", id)
	}
}

// Bind gives every line of a logger the ids of a context; a line logged with ids of its
// own, or that names them already, keeps its own and says them once.
func TestBindAndNoDuplicateIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil)))
	bound := telemetry.Bind(telemetry.WithRequestID(context.Background(), "req-1"), log).With("number", 5)
	bound.Info("without a context")
	bound.InfoContext(telemetry.WithRequestID(context.Background(), "req-2"), "with its own")
	log.InfoContext(telemetry.WithRequestID(context.Background(), "req-3"), "named", "request_id", "req-3")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []string{"req-1", "req-2", "req-3"} {
		if c := strings.Count(lines[i], `"request_id"`); c != 1 {
			t.Errorf("line %d names request_id %d times: %s", i, c, lines[i])
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil || m["request_id"] != want {
			t.Errorf("line %d: %s; want request_id %s", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], `"number":5`) {
		t.Errorf("Bind lost the logger's attributes: %s", lines[0])
	}
}

// While tracing is active each request (but the probes) has a server span, named after its
// route by NameSpan and continuing the caller's traceparent. While it is off, a caller's
// traceparent still reaches the context, and a request without one is passed on as it came.
func TestHandler(t *testing.T) {
	traceparent := "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	var seen []*http.Request
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		telemetry.NameSpan(r.Context(), r.Method, "/api/v1/factorial/:number")
	})

	off := telemetry.Handler(inner)
	plain := httptest.NewRequest(http.MethodGet, "/api/v1/factorial/5", nil)
	off.ServeHTTP(httptest.NewRecorder(), plain)
	named := httptest.NewRequest(http.MethodGet, "/api/v1/factorial/5", nil)
	named.Header.Set("traceparent", traceparent)
	off.ServeHTTP(httptest.NewRecorder(), named)
	if len(seen) != 2 || seen[0] != plain {
		t.Fatalf("tracing off: the handler saw %v; want the request itself", seen)
	}
	if id := trace.SpanContextFromContext(seen[1].Context()).TraceID().String(); id != "0102030405060708090a0b0c0d0e0f10" {
		t.Fatalf("tracing off: trace id %s in the context; want the caller's", id)
	}

	p := newProcess(t)
	t.Cleanup(telemetry.Install(p.tp))
	h := telemetry.Handler(inner)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/factorial/5", nil)
	req.Header.Set("traceparent", traceparent)
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if len(seen) != 4 {
		t.Fatalf("handler called %d times; want 4", len(seen))
	}
	spans := p.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 (none for /readyz)", len(spans))
	}
	if s := spans[0]; s.Name != "GET /api/v1/factorial/:number" || s.SpanKind != trace.SpanKindServer ||
		s.SpanContext.TraceID().String() != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("span %q kind %v trace %s; want the route's name, server, the caller's trace", s.Name, s.SpanKind, s.SpanContext.TraceID())
	}
}

// The AWS SDK's spans become OpenTelemetry spans while tracing is active, and none are made
// while it is off.
func TestAWSTracerProvider(t *testing.T) {
	if telemetry.AWSTracerProvider() != nil {
		t.Fatal("an AWS tracer provider while tracing is off")
	}
	p := newProcess(t)
	t.Cleanup(telemetry.Install(p.tp))
	tr := telemetry.AWSTracerProvider().Tracer("s3")
	_, span := tr.StartSpan(context.Background(), "S3.PutObject")
	span.SetProperty("rpc.method", "PutObject")
	if sc := span.Context(); !sc.IsValid() {
		t.Fatal("span context not valid")
	}
	span.End()
	if spans := p.spans.GetSpans(); len(spans) != 1 || spans[0].Name != "S3.PutObject" || len(spans[0].Attributes) != 1 {
		t.Fatalf("spans %+v", spans)
	}
}
