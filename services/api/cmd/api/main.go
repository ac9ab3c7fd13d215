// Command api runs the REST API against external NATS, a database, an object store and,
// when REDIS_URL is set, Redis; all configured through environment variables.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/config"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/heap"
	"github.com/factorial-service/factorial/platform/logging"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/serve"
	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/api"
)

type settings struct {
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8080"`
	NATSURL     string `env:"NATS_URL,required"`
	NATS        natsbus.Credentials
	DatabaseURL string `env:"DATABASE_URL,required"`
	Cache       cache.Config
	Storage     objectstore.Config
	HTTP        serve.Config
	Heap        heap.Config
	Log         logging.Config
	API         api.Config
}

func (s *settings) Validate() error {
	if err := s.HTTP.Validate(); err != nil {
		return err
	}
	if err := s.Heap.Validate(); err != nil {
		return err
	}
	return s.API.Validate()
}

func main() {
	// `api healthcheck [path]`: the container health check (the image has no shell); it asks
	// the api running beside it on HTTP_ADDR (default as in settings) for /readyz.
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(health.Command(os.Args[2:], os.Getenv, ":8080", os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ []string, stderr io.Writer) error {
	var cfg settings
	if err := config.Load(environ, &cfg); err != nil {
		return err
	}
	heap.Keep(cfg.Heap, config.IsSet(environ, "GOGC"))
	natsOpts, err := cfg.NATS.Options()
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.Log, "api")
	if err != nil {
		return err
	}
	// Traces are exported with OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; the spans still
	// buffered are flushed at exit, after everything else has stopped.
	tel, err := telemetry.Setup(ctx, "api", log)
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
	results, closeCache, err := cache.Open(cfg.Cache)
	if err != nil {
		return err
	}
	defer closeCache()

	reg := health.NewRegistry()
	reg.MustRegister(collectors.NewDBStatsCollector(db.DB, "factorial")) // the pool: go_sql_*
	svc, err := api.New(ctx, cfg.API, api.Deps{
		Log:      log,
		Dial:     natsbus.NewDialer(cfg.NATSURL, log, natsOpts...),
		Records:  database.NewFactorials(db),
		Store:    store,
		Cache:    results,
		Registry: reg,
		Checks:   []health.Check{{Name: "database", Ping: db.PingContext}},
	})
	if err != nil {
		return err
	}

	srv := serve.NewServer(cfg.HTTPAddr, svc.Handler(), log)
	srv.RegisterOnShutdown(svc.EndStreams)
	log.Info("api starting", "http", cfg.HTTPAddr)
	err = serve.Run(ctx, srv, ln, svc.Run)
	log.Info("api stopped", "err", err)
	return err
}
