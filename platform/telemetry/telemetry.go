// Package telemetry sets up OpenTelemetry tracing for the services: a tracer provider that
// exports spans with OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set and costs nothing when it
// is not, the W3C trace-context propagator, the carrier that puts `traceparent` (and the
// request id) into NATS headers, the instrumentation of the HTTP server and of the database,
// Redis and S3 clients, and a slog handler that writes trace_id, span_id and request_id on
// every line logged with a request's context.
//
// The provider is OpenTelemetry's global one (the instrumentation libraries read it), and
// the heavy instrumentation (HTTP server spans, database, Redis and S3 client spans) is put
// in place only while spans are exported (Active): with tracing off, only the ids travel.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Propagator reads and writes W3C `traceparent`/`tracestate` and `baggage`: what the
// services put on HTTP responses' upstream calls and on NATS messages.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)

// Telemetry is the tracing of one process.
type Telemetry struct {
	// TracerProvider makes the tracers; a no-op one when export is off.
	TracerProvider trace.TracerProvider
	// Exporting reports whether spans are exported (OTEL_EXPORTER_OTLP_ENDPOINT is set).
	Exporting bool
	shutdown  func(context.Context) error
}

// Off is tracing switched off: no spans recorded, no goroutines, nothing exported. A
// traceparent that arrives is still passed on, so the ids a caller chose reach the logs.
func Off() *Telemetry {
	return &Telemetry{TracerProvider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}
}

// Setup builds the tracing of a process named service from the standard OTEL_* variables,
// and installs it as OpenTelemetry's global provider and propagator, which the instrumented
// clients (HTTP, database, Redis, S3) read.
//
// Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
// set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none; otherwise tracing is Off.
// OTEL_EXPORTER_OTLP_PROTOCOL chooses http/protobuf (the default), http/json or grpc; the
// exporter and the SDK read the rest themselves (headers, TLS, timeout, compression,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*).
//
// Call Shutdown at exit to flush the spans still buffered.
func Setup(ctx context.Context, service string, log *slog.Logger) (*Telemetry, error) {
	t, err := build(ctx, service)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
	if t.Exporting {
		restore := Install(t.TracerProvider)
		flush := t.shutdown
		t.shutdown = func(ctx context.Context) error {
			restore()
			return flush(ctx)
		}
	} else {
		otel.SetTextMapPropagator(Propagator)
	}
	return t, nil
}

// active is whether a recording provider is installed (see Active).
var active atomic.Bool

// Active reports whether spans are recorded and exported: the instrumentation of the HTTP
// server and of the clients is put in place only then, so that tracing off costs nothing.
// Check it after Setup (or Install), when the clients are built.
func Active() bool { return active.Load() }

// Install makes tp OpenTelemetry's global tracer provider (with the propagator) and marks
// tracing active; restore puts the previous provider back. Setup calls it when export is
// on; tests call it with a provider that records into memory.
func Install(tp trace.TracerProvider) (restore func()) {
	prev, wasActive := otel.GetTracerProvider(), active.Load()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	active.Store(true)
	return func() {
		otel.SetTracerProvider(prev)
		active.Store(wasActive)
	}
}

func build(ctx context.Context, service string) (*Telemetry, error) {
	if !enabled() {
		return Off(), nil
	}
	if err := checkEndpoints(); err != nil {
		return nil, err
	}
	exp, err := exporter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default name
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Telemetry{TracerProvider: tp, Exporting: true, shutdown: tp.Shutdown}, nil
}

func enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") ||
		strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// checkEndpoints refuses an endpoint the exporter cannot use: it would log a line of its own
// and export nothing, while the service seemed to start with tracing on.
func checkEndpoints() error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q: want a URL such as http://collector:4318", name, v)
		}
	}
	return nil
}

func exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	name, protocol := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		name, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf", "http/json":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("%s %q: want http/protobuf, http/json or grpc", name, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	return exp, nil
}

// Tracer returns the named tracer of this process's provider.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.TracerProvider.Tracer(name) }

// Flush is Shutdown at a process's exit, deferred once its start-up has set telemetry up:
// within 5 s, and a failure is logged, since there is no one left to return it to.
func (t *Telemetry) Flush(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("flushing traces", "err", err)
	}
}

// flushTimeout bounds Flush: the spans of the last seconds are not worth a hung exit.
const flushTimeout = 5 * time.Second

// Shutdown flushes the spans still buffered and stops exporting (the global provider is the
// one before Setup again).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}
