// Package standalone runs the whole factorial service in one process: the API and the
// calculator over an embedded NATS server, SQLite, local disk and an in-process cache. It is
// the zero-setup default behind `make run`, and what the end-to-end tests start.
//
// Any of the servers can still be external: NATS_URL, DATABASE_URL, REDIS_URL and STORAGE
// replace the embedded piece they name.
package standalone

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/serve"
	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/api"
	"github.com/factorial-service/factorial/services/calculator"
)

// Config is the standalone process's settings.
type Config struct {
	HTTPAddr         string `env:"HTTP_ADDR" envDefault:":8080"`
	DataDir          string `env:"DATA_DIR" envDefault:"./data"`
	NATSURL          string `env:"NATS_URL"`
	EmbeddedNATSAddr string `env:"EMBEDDED_NATS_ADDR"` // unset: 127.0.0.1:4222, or a free port if taken
	DatabaseURL      string `env:"DATABASE_URL"`       // default DATA_DIR/factorial.db
	HTTP             serve.Config
	Cache            cache.Config
	Storage          objectstore.Config
	API              api.Config
	Calculator       calculator.Config

	// NATS are the credentials and TLS files for NATS_URL. SubscriberPassword is the password
	// of the embedded server's read-only user subscriber: unset, one is generated and printed
	// once at start.
	NATS               natsbus.Credentials
	SubscriberPassword string `env:"EMBEDDED_NATS_SUBSCRIBER_PASSWORD"`
}

// Validate checks what parsing alone cannot.
func (c *Config) Validate() error {
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	if err := c.API.Validate(); err != nil {
		return err
	}
	return c.Calculator.Validate()
}

// Deps lets tests replace the engine (nil: the fast one).
type Deps struct {
	Log    *slog.Logger
	Engine calculator.Engine
}

// App is a started standalone service.
type App struct {
	addr    net.Addr
	errc    chan error
	natsURL string
}

// Start builds everything, starts serving HTTP on cfg.HTTPAddr, and runs until ctx is
// cancelled; Wait returns once it has shut down.
func Start(ctx context.Context, cfg Config, d Deps) (app *App, err error) {
	log := d.Log
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()

	app = &App{errc: make(chan error, 1)}
	// Listen first, so a bad HTTP_ADDR is the one line said before anything else.
	ln, err := serve.Listen(cfg.HTTPAddr, cfg.HTTP)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = ln.Close() })
	// Then what can be wrong in the settings, before anything starts and logs: DATA_DIR, the
	// database, storage and the cache; NATS last.
	if cfg.NATSURL == "" || cfg.DatabaseURL == "" || (cfg.Storage.Kind == "" || cfg.Storage.Kind == objectstore.KindLocal) && cfg.Storage.LocalDir == "" {
		release, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, release)
	}
	db, reads, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = db.Close() })
	db = telemetry.InstrumentDB(db, "factorial")
	if reads != nil {
		cleanups = append(cleanups, func() { _ = reads.Close() })
		reads = telemetry.InstrumentDB(reads, "factorial")
	}

	if cfg.Storage.Kind == "" || cfg.Storage.Kind == objectstore.KindLocal {
		if cfg.Storage.LocalDir == "" {
			cfg.Storage.LocalDir = filepath.Join(cfg.DataDir, "objects")
		}
	}
	store, err := objectstore.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	resultCache, closeCache, err := cache.Open(cfg.Cache)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = closeCache() })

	dial, natsURL, watchNATS, shutdownNATS, err := startNATS(cfg, log)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, shutdownNATS)
	app.natsURL = natsURL

	engine := d.Engine
	if engine == nil {
		engine = calculator.Factorial
	}
	records := database.NewFactorials(db).ReadingFrom(reads)
	reg := health.NewRegistry()
	reg.MustRegister(collectors.NewDBStatsCollector(db.DB, "factorial")) // the pool: go_sql_*
	calc, err := calculator.New(ctx, cfg.Calculator, calculator.Deps{
		Log: log.With("component", "calculator"), Dial: dial, Records: records,
		Store: store, Engine: engine, Registry: reg,
	})
	if err != nil {
		return nil, err
	}
	apiSvc, err := api.New(ctx, cfg.API, api.Deps{
		Log: log.With("component", "api"), Dial: dial, Records: records, Store: store,
		Cache: resultCache, Registry: reg,
		Checks: []health.Check{{Name: "database", Ping: db.PingContext}, {Name: "calculator", Ping: calc.Ready}},
	})
	if err != nil {
		return nil, err
	}

	app.addr = ln.Addr()
	srv := serve.NewServer(cfg.HTTPAddr, apiSvc.Handler(), log)
	srv.RegisterOnShutdown(apiSvc.EndStreams)

	// One shutdown, serve.Run's: stop taking HTTP requests and let those in flight finish,
	// then stop the consumers and the follower (which waiting requests need until they end),
	// then close the connections, the database and NATS (cleanup, in reverse order of start).
	work := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, 2)
		go func() { errs <- calc.Run(ctx) }()
		go func() { errs <- apiSvc.Run(ctx) }()
		first := <-errs
		cancel() // one stopped: stop the other
		return errors.Join(first, <-errs)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- serve.Run(ctx, srv, ln, work) }()
	for _, running := range []<-chan struct{}{calc.Running(), apiSvc.Running()} {
		select {
		case <-running:
		case err := <-stopped:
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		}
	}
	log.Info("factorial service ready", "http", app.addr.String(), "data_dir", cfg.DataDir, "nats", natsbus.Redact(natsURL))
	if watchNATS != "" {
		log.Info("watch the events from outside as the read-only NATS user subscriber", "command", watchNATS)
	}
	stopping := context.AfterFunc(ctx, func() { log.Info("shutting down") })
	go func() {
		err := <-stopped
		stopping()
		cleanup()
		log.Info("stopped")
		app.errc <- err
	}()
	return app, nil
}

// Addr is where the HTTP server listens.
func (a *App) Addr() net.Addr { return a.addr }

// NATSURL is the URL outside subscribers can use ("" when the embedded server does not listen).
func (a *App) NATSURL() string { return a.natsURL }

// Wait blocks until the service has shut down and returns why it stopped, if not asked to.
func (a *App) Wait() error { return <-a.errc }

// startNATS connects to NATS_URL, or starts the embedded server; it also returns the URL
// outside subscribers use and a command line that watches the events ("" if none).
func startNATS(cfg Config, log *slog.Logger) (natsbus.Dialer, string, string, func(), error) {
	if cfg.NATSURL != "" {
		opts, err := cfg.NATS.Options()
		if err != nil {
			return nil, "", "", nil, err
		}
		return natsbus.NewDialer(cfg.NATSURL, log, opts...), cfg.NATSURL, "", func() {}, nil
	}
	ns, err := natsbus.StartEmbedded(filepath.Join(cfg.DataDir, "nats"), cfg.EmbeddedNATSAddr, log,
		natsbus.WithSubscriberPassword(cfg.SubscriberPassword))
	if err != nil {
		return nil, "", "", nil, err
	}
	return ns.Dialer(log), ns.ClientURL(), ns.WatchCommand(), ns.Shutdown, nil
}

// openDatabase opens and migrates the database, and for a SQLite file opens its read-only
// connections too (reads is nil otherwise; see database.OpenReader).
func openDatabase(ctx context.Context, cfg Config) (db, reads *bun.DB, err error) {
	url := cfg.DatabaseURL
	if url == "" {
		url = filepath.Join(cfg.DataDir, "factorial.db")
	}
	if db, err = database.Open(ctx, url); err != nil {
		return nil, nil, err
	}
	if err := migrations.Up(ctx, db); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	if reads, err = database.OpenReader(ctx, url); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, reads, nil
}
