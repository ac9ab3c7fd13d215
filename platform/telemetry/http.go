package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Handler wraps an HTTP server's handler: while tracing is Active, every request (but the
// probes and /metrics) has a server span (otelhttp) that continues the caller's
// traceparent. With tracing off, a caller's traceparent is still read, so its trace id
// reaches the logs and the NATS headers, and a request without one is passed on untouched:
// no context, no copy of the request. The request id is the server's own to choose and
// to put in the context (WithRequestID), when it needs it: a read answered from memory
// never does. Decided once, when Handler is called: call it after Setup.
func Handler(h http.Handler) http.Handler {
	if Active() {
		return otelhttp.NewHandler(h, "http",
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
		if len(r.Header["Traceparent"]) != 0 {
			r = r.WithContext(Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}

// NameSpan names the server span of ctx after the route that served it ("GET
// /api/v1/factorial/:number"), as the semantic conventions ask: the pattern, not the URL.
// With tracing off it returns at once, rather than look for a span through the request's
// contexts on every request.
func NameSpan(ctx context.Context, method, route string) {
	if !Active() {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}
