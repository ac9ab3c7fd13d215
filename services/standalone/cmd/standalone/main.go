// Command standalone runs the whole factorial service in one process with nothing installed:
// embedded NATS, SQLite, local disk and an in-process cache under DATA_DIR.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/factorial-service/factorial/platform/config"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/heap"
	"github.com/factorial-service/factorial/platform/logging"
	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/calculator"
	"github.com/factorial-service/factorial/services/standalone"
)

type settings struct {
	standalone.Config
	Heap heap.Config
	Log  logging.Config
}

// Validate checks what parsing alone cannot (config.Load calls it).
func (s *settings) Validate() error {
	if err := s.Heap.Validate(); err != nil {
		return err
	}
	return s.Config.Validate()
}

func main() {
	// `standalone healthcheck [path]`: the container health check (the image has no shell); it asks
	// the standalone running beside it on HTTP_ADDR (default as in settings) for /readyz.
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(health.Command(os.Args[2:], os.Getenv, ":8080", os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "standalone:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ []string, stderr io.Writer) error {
	var cfg settings
	if err := config.Load(environ, &cfg); err != nil {
		return err
	}
	heap.Keep(cfg.Heap, config.IsSet(environ, "GOGC"))
	// A large computation on a niced thread gets a Go P of its own (see ReserveLargeProcs).
	calculator.ReserveLargeProcs(cfg.Calculator, config.IsSet(environ, "GOMAXPROCS"))
	log, err := logging.New(stderr, cfg.Log, "factorial")
	if err != nil {
		return err
	}
	// Traces are exported with OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; the spans still
	// buffered are flushed at exit, after everything else has stopped.
	tel, err := telemetry.Setup(ctx, "standalone", log)
	if err != nil {
		return err
	}
	defer tel.Flush(log)
	app, err := standalone.Start(ctx, cfg.Config, standalone.Deps{Log: log})
	if err != nil {
		return err
	}
	return app.Wait()
}
