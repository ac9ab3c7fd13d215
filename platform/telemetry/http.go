package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Handler wraps an HTTP server's handler: every request's context carries its request id
// (requestID chooses it; the server's own middleware reads it back with RequestID), and,
// while tracing is Active, a server span (otelhttp)
// that continues the caller's traceparent; the probes and /metrics are left out. With
// tracing off, a caller's traceparent is still read, so its trace id reaches the logs and the
// NATS headers. Decided once, when Handler is called: call it after Setup.
func Handler(h http.Handler, requestID func(*http.Request) string) http.Handler {
	inner := h
	traced := Active()
	if traced {
		inner = otelhttp.NewHandler(h, "http",
			otelhttp.WithFilter(func(r *http.Request) bool {
				switch r.URL.Path {
				case "/healthz", "/readyz", "/metrics":
					return false
				}
				return true
			}),
			// Named by method until the router knows the route (NameSpan).
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := WithRequestID(r.Context(), requestID(r))
		if !traced && r.Header.Get("Traceparent") != "" {
			ctx = Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		inner.ServeHTTP(w, r.WithContext(ctx))
	})
}

// NameSpan names the server span of ctx after the route that served it ("GET
// /api/v1/factorial/:number"), as the semantic conventions ask: the pattern, not the URL.
func NameSpan(ctx context.Context, method, route string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}
