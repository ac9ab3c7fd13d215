// Package calculator is the service that computes factorials: it holds the durable JetStream
// consumer of factorial.requested, computes n! with its engine, streams the digits to the
// object store, records the result and publishes factorial.computed.
//
// New builds it from its dependencies, so cmd/calculator, the standalone process and the
// tests assemble the same service.
package calculator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// Config is the calculator's own settings.
type Config struct {
	MaxNumber   int64 `env:"MAX_NUMBER" envDefault:"100000"`
	Concurrency int   `env:"CALCULATOR_CONCURRENCY" envDefault:"1"` // factorials computed at once by this process
	MaxAttempts int   `env:"CALCULATOR_MAX_ATTEMPTS" envDefault:"3"`

	// Timing; the defaults suit production and tests shorten them.
	AckWait        time.Duration `env:"CALCULATOR_ACK_WAIT" envDefault:"30s"`         // JetStream redelivers after this silence
	Lease          time.Duration `env:"CALCULATOR_LEASE" envDefault:"30s"`            // a claim without heartbeat this long is taken over
	RetryDelay     time.Duration `env:"CALCULATOR_RETRY_DELAY" envDefault:"2s"`       // before a failed delivery is tried again
	ReconcileEvery time.Duration `env:"RECONCILE_INTERVAL" envDefault:"30s"`          // how often stuck records are looked for
	PendingAfter   time.Duration `env:"RECONCILE_PENDING_AFTER" envDefault:"2m"`      // a pending record this old is republished
	ProgressEvery  time.Duration `env:"CALCULATOR_PROGRESS_INTERVAL" envDefault:"1s"` // how often progress is recorded
}

// Validate checks the settings that parsing alone cannot.
func (c Config) Validate() error {
	switch {
	case c.MaxNumber < 0 || c.MaxNumber > factorial.MaxN:
		return fmt.Errorf("MAX_NUMBER must be from 0 to %d", factorial.MaxN)
	case c.Concurrency < 1:
		return errors.New("CALCULATOR_CONCURRENCY must be 1 or more")
	case c.MaxAttempts < 1:
		return errors.New("CALCULATOR_MAX_ATTEMPTS must be 1 or more")
	case c.AckWait < time.Second:
		return errors.New("CALCULATOR_ACK_WAIT must be at least 1s")
	case c.ProgressEvery <= 0 || c.ProgressEvery >= c.Lease:
		return errors.New("CALCULATOR_PROGRESS_INTERVAL must be above 0 and below CALCULATOR_LEASE")
	}
	return nil
}

// Deps are what the calculator is built from.
type Deps struct {
	Log     *slog.Logger
	Dial    natsbus.Dialer
	Records interface {
		Records
		StuckRecords
	}
	Store    ResultStore
	Engine   Engine
	Registry prometheus.Registerer
	WorkerID string // unique per process; defaults to hostname-pid
}

// Service is a running calculator.
type Service struct {
	cfg    Config
	log    *slog.Logger
	router *message.Router
	recon  *reconciler
	conns  *natsbus.Conns
}

// New connects to NATS, provisions the stream and the durable consumer, and builds the
// router. Run starts consuming.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if d.WorkerID == "" {
		host, _ := os.Hostname()
		d.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := d.Log.With("worker", d.WorkerID)
	s := &Service{cfg: cfg, log: log, conns: natsbus.NewConns(d.Dial)}
	ok := false
	defer func() {
		if !ok {
			s.conns.Close()
		}
	}()

	pubConn, err := s.conns.Dial("calculator-publisher")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(pubConn)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := natsbus.Provision(pctx, js, natsbus.WorkConsumer{AckWait: cfg.AckWait, MaxAckPending: 256}); err != nil {
		return nil, err
	}
	pub, err := natsbus.NewPublisher(pubConn, log)
	if err != nil {
		return nil, err
	}

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, natsbus.Logger(log))
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	hb := natsbus.NewHeartbeats(cfg.AckWait / 3)
	router.AddMiddleware(middleware.Recoverer, hb.Middleware)

	m := newMetrics(d.Registry)
	w := &worker{
		id: d.WorkerID, engine: d.Engine, records: d.Records, store: d.Store, pub: pub,
		metrics: m, log: log, maxNumber: cfg.MaxNumber, maxAttempts: cfg.MaxAttempts,
		lease: cfg.Lease, beat: cfg.ProgressEvery, now: now,
	}
	for i := range cfg.Concurrency {
		conn, err := s.conns.Dial(fmt.Sprintf("calculator-consumer-%d", i))
		if err != nil {
			return nil, err
		}
		sub, err := natsbus.NewWorkSubscriber(conn, hb, cfg.RetryDelay, log)
		if err != nil {
			return nil, err
		}
		router.AddConsumerHandler(fmt.Sprintf("calculate-%d", i), events.SubjectRequested, sub, w.Handle)
	}
	s.router = router
	s.recon = &reconciler{
		records: d.Records, pub: pub, log: log, every: cfg.ReconcileEvery,
		pendingAfter: cfg.PendingAfter, lease: cfg.Lease, now: now,
	}
	ok = true
	return s, nil
}

func now() time.Time { return time.Now().UTC() }

// Ping reports whether NATS is connected, for /readyz.
func (s *Service) Ping(ctx context.Context) error { return s.conns.Ping(ctx) }

// Running is closed once the calculator consumes.
func (s *Service) Running() <-chan struct{} { return s.router.Running() }

// Run consumes until ctx is cancelled, then stops: computations in flight are cancelled and
// their records released for another replica, and the connections are closed.
func (s *Service) Run(ctx context.Context) error {
	defer s.conns.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.recon.run(ctx) })
	if err := s.router.Run(ctx); err != nil {
		return fmt.Errorf("calculator router: %w", err)
	}
	return nil
}
