// Command calculator runs the calculator service against external NATS, a database and an
// object store, all configured through environment variables.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/config"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/logging"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/serve"
	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/calculator"
)

type settings struct {
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8081"`
	NATSURL     string `env:"NATS_URL,required"`
	NATS        natsbus.Credentials
	DatabaseURL string `env:"DATABASE_URL,required"`
	Storage     objectstore.Config
	HTTP        serve.Config
	Log         logging.Config
	Calculator  calculator.Config
}

func (s *settings) Validate() error {
	if err := s.HTTP.Validate(); err != nil {
		return err
	}
	return s.Calculator.Validate()
}

func main() {
	// `calculator healthcheck [path]`: the container health check (the image has no shell); it asks
	// the calculator running beside it on HTTP_ADDR (default as in settings) for /readyz.
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(health.Command(os.Args[2:], os.Getenv, ":8081", os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "calculator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ []string, stderr io.Writer) error {
	var cfg settings
	if err := config.Load(environ, &cfg); err != nil {
		return err
	}
	// A large computation on a niced thread gets a Go P of its own (see ReserveLargeProcs).
	calculator.ReserveLargeProcs(cfg.Calculator, config.IsSet(environ, "GOMAXPROCS"))
	natsOpts, err := cfg.NATS.Options()
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.Log, "calculator")
	if err != nil {
		return err
	}
	// Traces are exported with OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; the spans still
	// buffered are flushed at exit, after everything else has stopped.
	tel, err := telemetry.Setup(ctx, "calculator", log)
	if err != nil {
		return err
	}
	defer tel.Flush(log)
	// Listen first, so a bad HTTP_ADDR is the one line said before anything else.
	ln, err := serve.Listen(cfg.HTTPAddr, cfg.HTTP)
	if err != nil {
		return err
	}
	defer ln.Close()

	db, err := migrations.OpenCurrent(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	db = telemetry.InstrumentDB(db, "factorial")
	store, err := objectstore.Open(ctx, cfg.Storage)
	if err != nil {
		return err
	}

	reg := health.NewRegistry()
	reg.MustRegister(collectors.NewDBStatsCollector(db.DB, "factorial")) // the pool: go_sql_*
	svc, err := calculator.New(ctx, cfg.Calculator, calculator.Deps{
		Log:      log,
		Dial:     natsbus.NewDialer(cfg.NATSURL, log, natsOpts...),
		Records:  database.NewFactorials(db),
		Store:    store,
		Engine:   calculator.Factorial,
		Registry: reg,
	})
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	health.Mount(e, reg, log,
		health.Check{Name: "database", Ping: db.PingContext},
		health.Check{Name: "nats", Ping: svc.Ping},
		health.Check{Name: "jetstream", Ping: svc.Ready},
		health.Check{Name: "storage", Ping: store.Ping},
	)
	srv := serve.NewServer(cfg.HTTPAddr, e, log)
	log.Info("calculator starting", "http", cfg.HTTPAddr, "concurrency", cfg.Calculator.Concurrency)
	err = serve.Run(ctx, srv, ln, svc.Run)
	log.Info("calculator stopped", "err", err)
	return err
}
