// Package api is the REST API of the factorial service: it records requests and publishes
// factorial.requested, serves results through a cache, and follows the stream's events to
// keep that cache true, wake waiting requests and feed Server-Sent Events.
//
// New builds it from its dependencies, so cmd/api, the standalone process and the tests
// assemble the same service.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// Config is the API's own settings.
type Config struct {
	MaxNumber            int64         `env:"MAX_NUMBER" envDefault:"100000"`
	InlineResultMaxBytes int64         `env:"INLINE_RESULT_MAX_BYTES" envDefault:"1048576"`
	CacheMaxBytes        int64         `env:"CACHE_MAX_BYTES" envDefault:"65536"` // larger results are cached without their digits
	CacheTTL             time.Duration `env:"CACHE_TTL" envDefault:"24h"`
	Replicas             int           `env:"NATS_STREAM_REPLICAS" envDefault:"1"`     // of the stream, when the API creates it
	LocalCacheBytes      int64         `env:"LOCAL_CACHE_BYTES" envDefault:"67108864"` // answers about finished results kept in this process (hot.go)
	// Admission control of large requests (admission.go); 0 turns each off.
	LargeBudget    time.Duration `env:"ADMISSION_LARGE_BUDGET" envDefault:"30m"`     // estimated work of queued large requests
	LargePerClient int           `env:"ADMISSION_LARGE_PER_CLIENT" envDefault:"100"` // large requests one client may have queued
	Limits         Limits
	Auth           Auth
	RateLimit      RateLimit
}

// maxNumber bounds MAX_NUMBER: the largest n the calculator's engine computes
// (factorial.MaxN, which the calculator holds its own MAX_NUMBER to).
const maxNumber = 100_000_000

// Validate checks what parsing alone cannot.
func (c Config) Validate() error {
	switch {
	case c.MaxNumber < 0 || c.MaxNumber > maxNumber:
		return fmt.Errorf("MAX_NUMBER must be from 0 to %d", maxNumber)
	case c.InlineResultMaxBytes < 0:
		return errors.New("INLINE_RESULT_MAX_BYTES must be 0 or more")
	case c.CacheMaxBytes < 0:
		return errors.New("CACHE_MAX_BYTES must be 0 or more")
	case c.CacheTTL <= 0:
		return errors.New("CACHE_TTL must be above 0")
	case c.LocalCacheBytes < 0:
		return errors.New("LOCAL_CACHE_BYTES must be 0 (off) or more")
	case c.LargeBudget < 0:
		return errors.New("ADMISSION_LARGE_BUDGET must be 0 (off) or more")
	case c.LargePerClient < 0:
		return errors.New("ADMISSION_LARGE_PER_CLIENT must be 0 (off) or more")
	case c.Replicas < 1 || c.Replicas > 5:
		return errors.New("NATS_STREAM_REPLICAS must be from 1 to 5")
	}
	if err := c.RateLimit.validate(); err != nil {
		return err
	}
	if _, err := loadKeys(c.Auth.KeysFile); err != nil {
		return err // checked with the settings, so a bad file is said before anything starts
	}
	return c.Limits.validate()
}

// ResultStore is what the API reads results from; Ping serves /readyz.
type ResultStore interface {
	ResultReader
	Ping(ctx context.Context) error
}

// Deps are what the API is built from.
type Deps struct {
	Log     *slog.Logger
	Dial    natsbus.Dialer
	Records Records
	Store   ResultStore
	Cache   interface {
		Cache
		Ping(ctx context.Context) error
	}
	Registry *prometheus.Registry
	Checks   []health.Check // more /readyz checks (the database)
}

// Service is the API.
type Service struct {
	cfg     Config
	log     *slog.Logger
	records Records
	store   ResultStore
	results *results
	broker  *broker
	echo    *echo.Echo
	handler http.Handler // echo, wrapped by telemetry.Handler
	tracer  trace.Tracer
	metrics *apiMetrics
	conns   *natsbus.Conns
	streams *streamsEnd // ends SSE streams at shutdown
	limits  *limits

	sup       *natsbus.Supervisor
	follower  *natsbus.Follower
	publisher *requestPublisher
	running   chan struct{}
}

// New connects to NATS and builds the HTTP handler, the publisher of requests and the event
// follower. It does not wait for JetStream: Run creates the stream if it is missing, in the
// background, and /readyz tells when it is there.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	s := &Service{
		cfg: cfg, log: d.Log, records: d.Records, store: d.Store, broker: newBroker(),
		conns: natsbus.NewConns(d.Dial), streams: newStreamsEnd(), running: make(chan struct{}),
		limits: newLimits(cfg.Limits), tracer: otel.Tracer(tracerName),
	}
	ok := false
	defer func() {
		if !ok {
			s.conns.Close()
		}
	}()
	pubConn, err := s.conns.Dial("api-publisher")
	if err != nil {
		return nil, err
	}
	pub, err := natsbus.NewPublisher(pubConn)
	if err != nil {
		return nil, err
	}
	s.sup = natsbus.NewSupervisor(pub.JetStream(), natsbus.Layout{Replicas: cfg.Replicas}, d.Log)
	s.publisher = newRequestPublisher(pub, d.Log, d.Registry)
	s.metrics = newAPIMetrics(d.Registry, s.limits)
	s.results = &results{
		records: d.Records, store: d.Store, cache: d.Cache, log: d.Log, metrics: s.metrics,
		batcher: newRequestBatcher(d.Records, s.publisher.enqueue), reader: newReadBatcher(d.Records), publisher: s.publisher, writer: newCacheWriter(8, 1024),
		admission: &admission{records: d.Records, budget: cfg.LargeBudget, perClient: cfg.LargePerClient},
		cacheMax:  cfg.CacheMaxBytes, cacheTTL: cfg.CacheTTL,
		corrupt: newCorruptCounter(d.Registry), verified: newVerifiedSet(4096),
		inlineMax: cfg.InlineResultMaxBytes,
	}
	if cfg.LocalCacheBytes > 0 {
		s.results.hot = newHotCache(cfg.LocalCacheBytes)
	}
	_, s.results.presigns = d.Store.(objectstore.Presigner)

	subConn, err := s.conns.Dial("api-events")
	if err != nil {
		return nil, err
	}
	if s.follower, err = natsbus.NewFollower(subConn, s.follow, d.Log); err != nil {
		return nil, err
	}

	checks := append([]health.Check{
		{Name: "nats", Ping: s.conns.Ping},
		{Name: "jetstream", Ping: s.sup.Ready},
		{Name: "storage", Ping: d.Store.Ping},
		{Name: "cache", Ping: d.Cache.Ping},
		{Name: "events", Ping: s.follower.Ready},
	}, d.Checks...)
	if s.echo, err = s.routes(d.Registry, checks); err != nil {
		return nil, err
	}
	s.handler = telemetry.Handler(s.echo)
	ok = true
	return s, nil
}

// Handler is the HTTP handler of the whole API: every request is named (X-Request-Id, also
// in its context once it does more than answer from memory; see front) and, while tracing
// is on, has its server span (see telemetry.Handler).
func (s *Service) Handler() http.Handler { return s.handler }

// tracerName names the API's spans.
const tracerName = "github.com/factorial-service/factorial/services/api"

// Running is closed once the API follows the events (so a request made afterwards is seen
// finishing) and has seen the stream and the lane consumers in place. cmd/api does not wait
// for it: /readyz says the same.
func (s *Service) Running() <-chan struct{} { return s.running }

// Run keeps the stream, follows its events and publishes accepted requests until ctx is
// cancelled; then it publishes what is still queued (within a bound) and closes the
// connections. Serving HTTP is the caller's, who must stop it before cancelling ctx: waiting
// requests need the follower until they end. The standalone process and the tests mount
// Handler where they like.
func (s *Service) Run(ctx context.Context) error {
	defer s.conns.Close()
	defer s.EndStreams()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.sup.Run(ctx) })
	wg.Go(func() {
		if err := s.follower.Run(ctx); err != nil {
			s.log.Error("following the events", "err", err)
		}
	})
	wg.Go(func() { s.publisher.run(ctx) })
	wg.Go(func() { s.results.writer.run(ctx) })
	wg.Go(func() {
		for _, ready := range []<-chan struct{}{s.follower.Following(), s.sup.Provisioned()} {
			select {
			case <-ready:
			case <-ctx.Done():
				return
			}
		}
		close(s.running)
	})
	<-ctx.Done()
	return nil
}

// EndStreams ends the SSE streams, which would otherwise hold an HTTP server's graceful
// shutdown until its timeout: register it with http.Server.RegisterOnShutdown.
func (s *Service) EndStreams() { s.streams.end() }

type streamsEnd struct {
	once sync.Once
	done chan struct{}
}

func newStreamsEnd() *streamsEnd { return &streamsEnd{done: make(chan struct{})} }

func (e *streamsEnd) end() { e.once.Do(func() { close(e.done) }) }

// Event kinds, as SSE names them.
const (
	kindRequested = "requested"
	kindProgress  = "progress"
	kindComputed  = "computed"
	kindFailed    = "failed"
	kindCancelled = "cancelled"
)

// follow handles every event of the stream: it keeps the cache true, then tells waiting
// requests and SSE streams. Events it cannot read (or dead letters) are passed over.
func (s *Service) follow(ctx context.Context, m jetstream.Msg) {
	subject := m.Subject()
	s.metrics.followed(m)
	switch subject {
	case events.SubjectComputed, events.SubjectFailed, events.SubjectCancelled:
		// In the trace of the request the event is about (its headers carry the context).
		var span trace.Span
		ctx, span = s.tracer.Start(telemetry.Extract(ctx, m.Headers()), subject+" process",
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("messaging.system", "nats")))
		defer span.End()
	}
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	ch, payload, err := decodeChange(subject, seq, m.Data())
	if err != nil {
		s.log.WarnContext(ctx, "ignoring an unreadable event", "subject", subject, "err", err)
		return
	}
	switch p := payload.(type) {
	case events.Computed:
		s.results.computed(ctx, p)
	case events.Failed:
		s.results.forgetBehind(ctx, p.Number)
	}
	if ch.Kind != "" {
		s.broker.publish(ch) // and its sequence is the id a new SSE stream opens with
	}
}

// decodeChange reads an event of the stream as the change SSE streams and waiters see (its
// kind, number, stream sequence, and payload: for SSE, factorial.computed without its
// digits, see forStreams), and returns the decoded payload too. An event of another kind (a dead letter) is a change
// without a kind.
func decodeChange(subject string, seq uint64, data []byte) (change, any, error) {
	var (
		ch      = change{Data: data, Seq: seq}
		payload any
		err     error
	)
	switch {
	case subject == events.SubjectComputed:
		var c events.Computed
		if err = events.Decode(ch.Data, &c); err == nil {
			ch.Kind, ch.Number, payload = kindComputed, c.Number, c
			if c.Text != "" {
				// SSE watchers get the announcement, not up to 64 KiB of digits each: made
				// when a stream takes it (forStreams), not for every event.
				ch.digits = &c
			}
		}
	case subject == events.SubjectFailed:
		var f events.Failed
		if err = events.Decode(ch.Data, &f); err == nil {
			ch.Kind, ch.Number, payload = kindFailed, f.Number, f
		}
	case subject == events.SubjectCancelled:
		var c events.Cancelled
		if err = events.Decode(ch.Data, &c); err == nil {
			ch.Kind, ch.Number, payload = kindCancelled, c.Number, c
		}
	case subject == events.SubjectProgress:
		var p events.Progress
		if err = events.Decode(ch.Data, &p); err == nil {
			ch.Kind, ch.Number, payload = kindProgress, p.Number, p
		}
	case strings.HasPrefix(subject, events.SubjectRequested+"."):
		var r events.Requested
		if err = events.Decode(ch.Data, &r); err == nil {
			ch.Kind, ch.Number, payload = kindRequested, r.Number, r
		}
	}
	return ch, payload, err
}
