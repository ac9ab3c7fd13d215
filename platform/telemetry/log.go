package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request it serves (X-Request-Id), which
// the log handler writes as request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return &requestIDCtx{ctx, id}
}

// requestIDCtx is a context carrying a request id: one allocation per request (every HTTP
// request makes one), where context.WithValue would make two (the context and the string
// boxed in an interface), and RequestID reads it without allocating.
type requestIDCtx struct {
	context.Context
	id string
}

func (c *requestIDCtx) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestIDCtx); ok {
		return c.id
	}
	return ""
}

// LogHandler wraps h so that a record logged with a context (log.InfoContext(ctx, …)) also
// carries trace_id and span_id when ctx holds a valid span context, and request_id when ctx
// holds one (unless the record already has them). Records logged without those ids are
// passed on unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		sc, id := trace.SpanContextFromContext(ctx), RequestID(ctx)
		if sc.IsValid() || id != "" {
			hasTrace, hasID := false, false
			r.Attrs(func(a slog.Attr) bool {
				hasTrace = hasTrace || a.Key == "trace_id"
				hasID = hasID || a.Key == "request_id"
				return true
			})
			if sc.IsValid() && !hasTrace {
				r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
			}
			if id != "" && !hasID {
				r.AddAttrs(slog.String("request_id", id))
			}
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}

// Bind returns log writing every line as if logged with ctx: the lines of one request's
// handling carry its trace_id and request_id even where they are logged without a context.
// A line logged with a context of its own that has the ids keeps those.
func Bind(ctx context.Context, log *slog.Logger) *slog.Logger {
	return slog.New(boundHandler{Handler: log.Handler(), ctx: ctx})
}

type boundHandler struct {
	slog.Handler
	ctx context.Context
}

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil || !trace.SpanContextFromContext(ctx).IsValid() && RequestID(ctx) == "" {
		ctx = h.ctx
	}
	return h.Handler.Handle(ctx, r)
}

func (h boundHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(h.ctx, l)
}

func (h boundHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return boundHandler{h.Handler.WithAttrs(attrs), h.ctx}
}

func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{h.Handler.WithGroup(name), h.ctx}
}
