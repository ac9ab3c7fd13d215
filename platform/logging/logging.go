// Package logging builds the one *slog.Logger each program passes down.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// Config is LOG_LEVEL (debug, info, warn, error) and LOG_FORMAT (text or json).
type Config struct {
	Level  string `env:"LOG_LEVEL" envDefault:"info"`
	Format string `env:"LOG_FORMAT" envDefault:"text"`
}

// New returns a logger writing to w, tagged with the service name. A line logged with a
// request's context (log.InfoContext(ctx, …)) carries its trace_id, span_id and request_id.
func New(w io.Writer, cfg Config, service string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(cfg.Format) {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("LOG_FORMAT %q: want text or json", cfg.Format)
	}
	return slog.New(telemetry.LogHandler(h)).With("service", service), nil
}
