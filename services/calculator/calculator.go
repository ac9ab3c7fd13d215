// Package calculator is the service that computes factorials: it holds the durable JetStream
// consumers of the two lanes of factorial.requested, computes n! with its engine, stores the
// digits, records the result and publishes factorial.computed.
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
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// Config is the calculator's own settings.
type Config struct {
	MaxNumber        int64 `env:"MAX_NUMBER" envDefault:"100000"`
	Concurrency      int   `env:"CALCULATOR_CONCURRENCY" envDefault:"1"`       // large-lane factorials computed at once by this process
	SmallConcurrency int   `env:"CALCULATOR_SMALL_CONCURRENCY" envDefault:"2"` // small-lane batches handled at once by this process
	BatchSize        int   `env:"CALCULATOR_BATCH_SIZE" envDefault:"128"`      // small-lane requests fetched and claimed together
	// LargeCores is how many cores one large computation may use; 0 (the default) is every
	// core but one (GOMAXPROCS − 1, at least 1), so that the small lane always has a core:
	// on every core, the engine held each one until the Go scheduler preempted it (10 ms),
	// and every step of a small request (its POST, claim, record, announcement, answer)
	// waited for that in turn.
	LargeCores int `env:"CALCULATOR_LARGE_CORES" envDefault:"0"`
	// LargeNice is the niceness (0 to 19) of the OS thread that computes a large factorial,
	// on Linux: the kernel then runs the small path's threads, and the rest of the machine,
	// before it. 0 leaves it as the process's.
	LargeNice   int `env:"CALCULATOR_LARGE_NICE" envDefault:"10"`
	MaxAttempts int `env:"CALCULATOR_MAX_ATTEMPTS" envDefault:"3"`
	// Results of at most this many bytes (64 KiB: n up to 17,235) live in the database
	// row and travel in factorial.computed, instead of being an object of their own.
	ResultRowMaxBytes int64 `env:"RESULT_ROW_MAX_BYTES" envDefault:"65536"`
	Replicas          int   `env:"NATS_STREAM_REPLICAS" envDefault:"1"`

	// Timing; the defaults suit production and tests shorten them. They must agree (see
	// Validate): a heartbeat well inside the lease, and a lease that runs out before JetStream
	// delivers a silent message again, so that the redelivery after a crash takes the number
	// over instead of finding the dead calculator's claim still alive.
	AckWait        time.Duration `env:"CALCULATOR_ACK_WAIT" envDefault:"15s"`         // JetStream redelivers after this silence
	Lease          time.Duration `env:"CALCULATOR_LEASE" envDefault:"10s"`            // a claim without heartbeat this long is taken over
	ProgressEvery  time.Duration `env:"CALCULATOR_PROGRESS_INTERVAL" envDefault:"1s"` // heartbeat: progress recorded, InProgress sent
	RetryDelay     time.Duration `env:"CALCULATOR_RETRY_DELAY" envDefault:"2s"`       // before a failed delivery is tried again
	ReconcileEvery time.Duration `env:"RECONCILE_INTERVAL" envDefault:"30s"`          // how often stuck records are looked for
	PendingAfter   time.Duration `env:"RECONCILE_PENDING_AFTER" envDefault:"2m"`      // a pending record this old is checked against the stream
}

// Validate checks the settings that parsing alone cannot, in one line naming the variables.
func (c Config) Validate() error {
	switch {
	case c.MaxNumber < 0 || c.MaxNumber > factorial.MaxN:
		return fmt.Errorf("MAX_NUMBER must be from 0 to %d", factorial.MaxN)
	case c.Concurrency < 1:
		return errors.New("CALCULATOR_CONCURRENCY must be 1 or more")
	case c.SmallConcurrency < 1:
		return errors.New("CALCULATOR_SMALL_CONCURRENCY must be 1 or more")
	case c.LargeCores < 0:
		return errors.New("CALCULATOR_LARGE_CORES must be 0 (every core but one) or more")
	case c.LargeNice < 0 || c.LargeNice > 19:
		return errors.New("CALCULATOR_LARGE_NICE must be from 0 to 19")
	case c.BatchSize < 1 || c.BatchSize > 1000:
		return errors.New("CALCULATOR_BATCH_SIZE must be from 1 to 1000")
	case c.MaxAttempts < 1:
		return errors.New("CALCULATOR_MAX_ATTEMPTS must be 1 or more")
	case c.ResultRowMaxBytes < 0 || c.ResultRowMaxBytes > maxRowBytes:
		return fmt.Errorf("RESULT_ROW_MAX_BYTES must be from 0 to %d (the digits travel in a NATS message)", maxRowBytes)
	case c.Replicas < 1 || c.Replicas > 5:
		return errors.New("NATS_STREAM_REPLICAS must be from 1 to 5")
	case c.AckWait < time.Second:
		return errors.New("CALCULATOR_ACK_WAIT must be at least 1s")
	case c.ProgressEvery <= 0 || c.RetryDelay <= 0 || c.ReconcileEvery <= 0 || c.PendingAfter <= 0:
		return errors.New("CALCULATOR_PROGRESS_INTERVAL, CALCULATOR_RETRY_DELAY, RECONCILE_INTERVAL and RECONCILE_PENDING_AFTER must be above 0")
	case 3*c.ProgressEvery > c.Lease:
		return fmt.Errorf("CALCULATOR_PROGRESS_INTERVAL (%s) must be at most a third of CALCULATOR_LEASE (%s): a claim must survive a missed heartbeat or two",
			c.ProgressEvery, c.Lease)
	case c.Lease+c.ProgressEvery >= c.AckWait:
		return fmt.Errorf("CALCULATOR_ACK_WAIT (%s) must exceed CALCULATOR_LEASE (%s) + CALCULATOR_PROGRESS_INTERVAL (%s): a redelivery after a crash must find the claim expired",
			c.AckWait, c.Lease, c.ProgressEvery)
	}
	return nil
}

// maxRowBytes bounds RESULT_ROW_MAX_BYTES: a factorial.computed carrying the digits must fit
// NATS's default 1 MiB message.
const maxRowBytes = 512 << 10

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

// fetcher fetches the requests of one lane (natsbus.Worker).
type fetcher interface {
	Fetch(ctx context.Context, max int) ([]jetstream.Msg, error)
	Ready(ctx context.Context) error
}

var _ fetcher = (*natsbus.Worker)(nil)

// Service is a running calculator.
type Service struct {
	cfg     Config
	log     *slog.Logger
	conns   *natsbus.Conns
	sup     *natsbus.Supervisor
	fetch   map[events.Lane]fetcher
	worker  *worker
	recon   *reconciler
	ann     *announcer
	events  *nats.Conn // follows factorial.cancelled
	running chan struct{}
}

// New connects to NATS and builds the calculator; Run provisions the stream and the lane
// consumers in the background and consumes. New does not wait for JetStream: a calculator
// started while a NATS node is down comes up, and reports not ready until it is provisioned.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.WorkerID == "" {
		host, _ := os.Hostname()
		d.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := d.Log.With("worker", d.WorkerID)
	s := &Service{cfg: cfg, log: log, conns: natsbus.NewConns(d.Dial), fetch: map[events.Lane]fetcher{},
		running: make(chan struct{})}
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
	pub, err := natsbus.NewPublisher(pubConn)
	if err != nil {
		return nil, err
	}
	s.sup = natsbus.NewSupervisor(pub.JetStream(), natsbus.Layout{
		Replicas: cfg.Replicas,
		Consumers: map[events.Lane]natsbus.Consumer{
			// Room for every replica's batches; the small lane's work is milliseconds.
			events.LaneSmall: {AckWait: cfg.AckWait, MaxAckPending: 10_000},
			// A large request waiting in a client buffer would age without heartbeats:
			// each slot fetches one at a time, so a modest bound covers many replicas.
			events.LaneLarge: {AckWait: cfg.AckWait, MaxAckPending: 256},
		},
	}, log)
	for _, lane := range events.Lanes {
		conn, err := s.conns.Dial("calculator-" + string(lane))
		if err != nil {
			return nil, err
		}
		if s.fetch[lane], err = natsbus.NewWorker(conn, lane); err != nil {
			return nil, err
		}
	}

	lookup, err := natsbus.NewLookup(pubConn)
	if err != nil {
		return nil, err
	}
	m := newMetrics(d.Registry)
	// JetStream's backlog of the lanes, asked at each scrape (within a second).
	d.Registry.MustRegister(natsbus.NewCollector(pub.JetStream(), time.Second))
	s.ann = newAnnouncer(d.Records, log, now)
	s.events = pubConn
	s.worker = &worker{
		id: d.WorkerID, engine: d.Engine, records: d.Records, store: d.Store, pub: pub,
		metrics: m, log: log, maxNumber: cfg.MaxNumber, maxAttempts: cfg.MaxAttempts,
		lease: cfg.Lease, beat: cfg.ProgressEvery, retryDelay: cfg.RetryDelay, rowMax: cfg.ResultRowMaxBytes, largeCores: largeCores(cfg.LargeCores), largeNice: cfg.LargeNice, announced: s.ann, now: now,
		running: newRunning(d.Records, log), tracer: otel.Tracer(tracerName),
	}
	s.recon = &reconciler{
		records: d.Records, lookup: lookup, pub: pub, log: log, metrics: m, every: cfg.ReconcileEvery,
		pendingAfter: cfg.PendingAfter, lease: cfg.Lease, now: now,
	}
	ok = true
	return s, nil
}

func now() time.Time { return time.Now().UTC() }

// largeCores is the cores one large computation uses for CALCULATOR_LARGE_CORES = setting.
func largeCores(setting int) int {
	if setting > 0 {
		return setting
	}
	return max(1, cores()-1)
}

// cores is GOMAXPROCS as the process started with it, before ReserveLargeProcs added to it:
// the cores the Go runtime found (or the operator's GOMAXPROCS). Once for the process, as
// GOMAXPROCS is.
var cores = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

// ReserveLargeProcs gives the process one more Go P (GOMAXPROCS) per large computation for
// as long as it runs, when those run on niced threads (CALCULATOR_LARGE_NICE, Linux), so
// that the small path (the small lane and, in the standalone process, the API) keeps a P per
// core and the kernel gives the large computation the CPU time the rest leaves. Without it
// the engine's thread holds one of the Ps whatever its priority, and every step of a small
// request shares the others. Only while one runs: a P more than there are cores, kept idle,
// costs every request a little in the scheduler (a cached read 14.3 µs of CPU with 2 Ps on
// 2 cores, 15.6 µs with 3). It does nothing when the operator set GOMAXPROCS
// (gomaxprocsSet). A program's run calls it before New.
func ReserveLargeProcs(cfg Config, gomaxprocsSet bool) {
	largeProcs.mu.Lock()
	defer largeProcs.mu.Unlock()
	largeProcs.on = threadNice && cfg.LargeNice > 0 && !gomaxprocsSet
}

// largeProcs counts the large computations that hold a P of their own (ReserveLargeProcs).
var largeProcs procReserve

type procReserve struct {
	mu      sync.Mutex
	on      bool
	running int
}

// hold adds a P for a large computation until release is called; nothing when not on.
func (r *procReserve) hold() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return func() {}
	}
	r.running++
	runtime.GOMAXPROCS(cores() + r.running)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.running--
		runtime.GOMAXPROCS(cores() + r.running)
	}
}

// Ping reports whether NATS is connected, for /readyz.
func (s *Service) Ping(ctx context.Context) error { return s.conns.Ping(ctx) }

// Ready reports what keeps the calculator from working, naming the part: the stream or a
// lane consumer missing or without a leader, or a lane it cannot fetch from. For /readyz.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.sup.Ready(ctx); err != nil {
		return err
	}
	for _, lane := range events.Lanes {
		if err := s.fetch[lane].Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Running is closed once the stream and the consumers are provisioned and the calculator
// consumes.
func (s *Service) Running() <-chan struct{} { return s.running }

// Run consumes until ctx is cancelled, then stops: computations in flight are cancelled and
// their records released for another replica, and the connections are closed.
func (s *Service) Run(ctx context.Context) error {
	defer s.conns.Close()
	// The announcer outlives the slots: it records what they announced until they stop.
	annCtx, stopAnn := context.WithCancel(context.WithoutCancel(ctx))
	var annDone sync.WaitGroup
	annDone.Go(func() { s.ann.run(annCtx) })
	defer annDone.Wait()
	defer stopAnn()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.sup.Run(ctx) })
	wg.Go(func() { s.worker.running.follow(ctx, s.events) })
	select {
	case <-s.sup.Provisioned():
	case <-ctx.Done():
		return nil
	}
	slots := map[events.Lane]int{events.LaneSmall: s.cfg.SmallConcurrency, events.LaneLarge: s.cfg.Concurrency}
	for _, lane := range events.Lanes {
		for range slots[lane] {
			wg.Go(func() { s.consume(ctx, lane) })
		}
	}
	wg.Go(func() { s.recon.run(ctx) })
	close(s.running)
	s.log.Info("consuming", "small_slots", s.cfg.SmallConcurrency, "large_slots", s.cfg.Concurrency)
	<-ctx.Done()
	return nil
}

// consume is one processing slot of a lane: it fetches and handles until ctx ends.
func (s *Service) consume(ctx context.Context, lane events.Lane) {
	batch := 1
	if lane == events.LaneSmall {
		batch = s.cfg.BatchSize
	}
	for ctx.Err() == nil {
		msgs, err := s.fetch[lane].Fetch(ctx, batch)
		if err != nil {
			// What came with the error (a fetch cut short by shutdown returns what it had) is
			// given back, to come back at once rather than after the ack wait; the delay keeps
			// it from this replica's own pull requests, which are being drained (as giveBack).
			for _, m := range msgs {
				_ = m.NakWithDelay(time.Second)
			}
			if ctx.Err() == nil {
				s.log.Debug("fetch", "lane", lane, "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		s.worker.handle(ctx, lane, msgs)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
