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

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// Config is the API's own settings.
type Config struct {
	MaxNumber            int64         `env:"MAX_NUMBER" envDefault:"100000"`
	InlineResultMaxBytes int64         `env:"INLINE_RESULT_MAX_BYTES" envDefault:"1048576"`
	CacheMaxBytes        int64         `env:"CACHE_MAX_BYTES" envDefault:"65536"` // larger results are not cached
	CacheTTL             time.Duration `env:"CACHE_TTL" envDefault:"24h"`
}

// Validate checks what parsing alone cannot.
func (c Config) Validate() error {
	switch {
	case c.MaxNumber < 0:
		return errors.New("MAX_NUMBER must be 0 or more")
	case c.InlineResultMaxBytes < 0:
		return errors.New("INLINE_RESULT_MAX_BYTES must be 0 or more")
	case c.CacheMaxBytes < 0:
		return errors.New("CACHE_MAX_BYTES must be 0 or more")
	case c.CacheTTL <= 0:
		return errors.New("CACHE_TTL must be above 0")
	}
	return nil
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
	router  *message.Router
	echo    *echo.Echo
	conns   *natsbus.Conns
	streams *streamsEnd // ends SSE streams at shutdown
}

// New connects to NATS and builds the HTTP handler and the event router.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	s := &Service{
		cfg: cfg, log: d.Log, records: d.Records, store: d.Store, broker: newBroker(),
		conns: natsbus.NewConns(d.Dial), streams: newStreamsEnd(),
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
	js, err := jetstream.New(pubConn)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := natsbus.ProvisionStream(pctx, js); err != nil {
		return nil, err
	}
	pub, err := natsbus.NewPublisher(pubConn, d.Log)
	if err != nil {
		return nil, err
	}
	s.results = &results{
		records: d.Records, store: d.Store, cache: d.Cache, pub: pub, log: d.Log,
		cacheMax: cfg.CacheMaxBytes, cacheTTL: cfg.CacheTTL,
	}

	subConn, err := s.conns.Dial("api-events")
	if err != nil {
		return nil, err
	}
	sub, err := natsbus.NewFanoutSubscriber(subConn, d.Log)
	if err != nil {
		return nil, err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, natsbus.Logger(d.Log))
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("follow-events", events.SubjectAll, sub, s.follow)
	s.router = router

	checks := append([]health.Check{
		{Name: "nats", Ping: s.conns.Ping},
		{Name: "storage", Ping: d.Store.Ping},
		{Name: "cache", Ping: d.Cache.Ping},
		{Name: "events", Ping: s.following},
	}, d.Checks...)
	if s.echo, err = s.routes(d.Registry, checks); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Handler is the HTTP handler of the whole API.
func (s *Service) Handler() http.Handler { return s.echo }

// Running is closed once the API follows the event stream.
func (s *Service) Running() <-chan struct{} { return s.router.Running() }

// Run follows the event stream until ctx is cancelled. Serving HTTP is the caller's: the
// standalone process and the tests mount Handler where they like.
func (s *Service) Run(ctx context.Context) error {
	defer s.conns.Close()
	defer s.EndStreams()
	if err := s.router.Run(ctx); err != nil {
		return fmt.Errorf("api router: %w", err)
	}
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

// following reports whether the API follows the event stream, for /readyz.
func (s *Service) following(context.Context) error {
	if !s.router.IsRunning() || s.router.IsClosed() {
		return errors.New("not following the event stream")
	}
	return nil
}

// Event kinds, as SSE names them.
const (
	kindRequested = "requested"
	kindProgress  = "progress"
	kindComputed  = "computed"
	kindFailed    = "failed"
)

// follow handles every event on the stream: it keeps the cache true, then tells waiting
// requests and SSE streams.
func (s *Service) follow(m *message.Message) error {
	subject := m.Metadata.Get(natsbus.MetadataSubject)
	kind := strings.TrimPrefix(subject, "factorial.")
	var head struct {
		Number int64 `json:"number"`
	}
	if err := events.Decode(m.Payload, &head); err != nil {
		s.log.Warn("ignoring unreadable event", "subject", subject, "err", err)
		return nil
	}
	switch kind {
	case kindComputed, kindFailed:
		s.results.refresh(m.Context(), head.Number, kind == kindComputed)
	case kindRequested, kindProgress:
	default:
		return nil
	}
	s.broker.publish(change{Kind: kind, Number: head.Number, Data: m.Payload})
	return nil
}
