package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// process is one traced program: its own tracer provider recording into memory.
type process struct {
	spans *tracetest.InMemoryExporter
	tp    *sdktrace.TracerProvider
}

func newProcess(t *testing.T) process {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return process{spans: exp, tp: tp}
}

func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func TestTraceContinuesThroughNATSHeaders(t *testing.T) {
	url := startNATS(t)
	api, calc := newProcess(t), newProcess(t)

	sub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan *nats.Msg, 1)
	if _, err := sub.ChanSubscribe("factorial.requested.test", got); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	// The "api" process: a request span, and a producer span whose context rides the message.
	ctx, request := api.tp.Tracer("api").Start(context.Background(), "POST /api/v1/factorial")
	ctx, publish := api.tp.Tracer("api").Start(ctx, "publish factorial.requested", trace.WithSpanKind(trace.SpanKindProducer))
	msg := nats.NewMsg("factorial.requested.test")
	msg.Data = []byte(`{"number":5}`)
	telemetry.Inject(ctx, msg)
	if err := pub.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	publish.End()
	request.End()

	// The "calculator" process: reads the headers and continues the trace.
	var in *nats.Msg
	select {
	case in = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("message not received")
	}
	if v := in.Header["traceparent"]; len(v) != 1 || !strings.HasPrefix(v[0], "00-") {
		t.Fatalf("header traceparent on the wire = %q, want one W3C value under the lower-case key (all headers: %v)", v, in.Header)
	}
	cctx := telemetry.Extract(context.Background(), in.Header)
	_, claim := calc.tp.Tracer("calculator").Start(cctx, "claim", trace.WithSpanKind(trace.SpanKindConsumer))
	claim.End()

	apiSpans, calcSpans := api.spans.GetSpans(), calc.spans.GetSpans()
	if len(apiSpans) != 2 || len(calcSpans) != 1 {
		t.Fatalf("recorded %d api spans and %d calculator spans, want 2 and 1", len(apiSpans), len(calcSpans))
	}
	c := calcSpans[0]
	if c.SpanContext.TraceID() != publish.SpanContext().TraceID() {
		t.Errorf("calculator span trace %s, api trace %s: the trace did not continue", c.SpanContext.TraceID(), publish.SpanContext().TraceID())
	}
	if c.Parent.SpanID() != publish.SpanContext().SpanID() || !c.Parent.IsRemote() {
		t.Errorf("calculator span parent = %s (remote %v), want the api's publish span %s, remote",
			c.Parent.SpanID(), c.Parent.IsRemote(), publish.SpanContext().SpanID())
	}
}

func TestExtractWithoutHeadersLeavesContext(t *testing.T) {
	for name, h := range map[string]nats.Header{"nil": nil, "other headers": {"Nats-Msg-Id": {"x"}}} {
		t.Run(name, func(t *testing.T) {
			ctx := telemetry.Extract(context.Background(), h)
			if trace.SpanContextFromContext(ctx).IsValid() {
				t.Fatal("a span context appeared from headers without traceparent")
			}
		})
	}
}

func TestInjectWithoutSpanWritesNothing(t *testing.T) {
	msg := nats.NewMsg("x")
	telemetry.Inject(context.Background(), msg)
	if len(msg.Header) != 0 {
		t.Fatalf("headers %v written without a span", msg.Header)
	}
}

func TestLogHandlerAddsIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "api")
	tp := newProcess(t).tp
	ctx, span := tp.Tracer("t").Start(context.Background(), "request")
	defer span.End()
	ctx = telemetry.WithRequestID(ctx, "req-42")

	log.InfoContext(ctx, "with ids")
	log.Info("without ids")
	log.InfoContext(telemetry.WithRequestID(context.Background(), "only-request"), "request id only")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	read := func(line string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := read(lines[0])
	if first["trace_id"] != span.SpanContext().TraceID().String() || first["span_id"] != span.SpanContext().SpanID().String() ||
		first["request_id"] != "req-42" || first["service"] != "api" {
		t.Errorf("line with a context = %v; want trace_id %s, span_id %s, request_id req-42, service api",
			first, span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
	second := read(lines[1])
	for _, k := range []string{"trace_id", "span_id", "request_id"} {
		if _, ok := second[k]; ok {
			t.Errorf("line without a context has %s: %v", k, second)
		}
	}
	third := read(lines[2])
	if third["request_id"] != "only-request" || third["trace_id"] != nil {
		t.Errorf("line with only a request id = %v", third)
	}
}

func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	before := runtime.NumGoroutine()
	tel, err := telemetry.Setup(context.Background(), "api", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if tel.Exporting {
		t.Fatal("exporting without an endpoint")
	}
	_, span := tel.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("span recording while tracing is off")
	}
	span.End()
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d → %d: tracing that is off must start none", before, after)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A traceparent that arrives is still passed on while off.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx, child := tel.Tracer("t").Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "y")
	msg := nats.NewMsg("x")
	telemetry.Inject(ctx, msg)
	child.End()
	if got := msg.Header.Get("traceparent"); !strings.Contains(got, remote.TraceID().String()) {
		t.Errorf("traceparent %q does not carry the incoming trace %s", got, remote.TraceID())
	}
}

func TestExportsWithOTLPEndpoint(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
		res   []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					res = append(res, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_SERVICE_NAME", "")

	tel, err := telemetry.Setup(context.Background(), "calculator", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Exporting {
		t.Fatal("not exporting with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	_, span := tel.Tracer("t").Start(context.Background(), "compute")
	span.End()
	var logged bytes.Buffer
	tel.Flush(slog.New(slog.NewTextHandler(&logged, nil))) // as the mains do at exit: the span is sent
	if logged.Len() != 0 {
		t.Errorf("Flush logged %q", logged.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "compute" || len(res) != 1 || res[0] != "calculator" {
		t.Fatalf("collector received spans %v from services %v, want [compute] from [calculator]", names, res)
	}
}

func TestBadProtocolNamesTheVariable(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	_, err := telemetry.Setup(context.Background(), "api", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("err = %v, want one naming OTEL_EXPORTER_OTLP_PROTOCOL", err)
	}
}

// An endpoint the exporter cannot use stops the start with a line naming the variable, rather
// than a service that seems to trace and exports nothing.
func TestBadEndpointNamesTheVariable(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	for _, tt := range []struct{ name, value string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "::bad"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector/v1/traces"},
	} {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
		t.Setenv(tt.name, tt.value)
		_, err := telemetry.Setup(context.Background(), "api", slog.New(slog.DiscardHandler))
		if err == nil || strings.Count(err.Error(), tt.name) != 1 {
			t.Errorf("%s=%s: err = %v, want one naming the variable once", tt.name, tt.value, err)
		}
	}
}
