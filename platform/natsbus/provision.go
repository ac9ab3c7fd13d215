package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/health"
)

// Stream settings: limits retention so any number of outside subscribers can read the events;
// the database, not the stream, is the record of every request, so old events may age out.
const (
	streamMaxAge    = 7 * 24 * time.Hour
	duplicateWindow = 2 * time.Minute
)

// replayWindow is how far back a lane consumer starts when it is created on a stream that
// already holds messages and nothing says where its predecessor stood (a process started
// after the consumer was deleted): far enough to pick up what a fresh deployment's API
// queued before the first calculator came, never the stream's seven days. Anything older
// that is still pending is the reconciler's.
const replayWindow = 10 * time.Minute

// topology names the stream, its subjects and the lane consumers. The services always use
// defaultTopology; tests on a shared NATS server use names of their own, so that parallel
// runs never meet each other (or a real FACTORIAL stream).
type topology struct {
	stream    string // FACTORIAL
	subjects  string // factorial.>
	requested string // factorial.requested: prefix of factorial.requested.<lane>.<n>
	legacy    string // the first version's single work consumer, removed by calculators ("" none)
}

var defaultTopology = topology{
	stream:    events.Stream,
	subjects:  events.SubjectAll,
	requested: events.SubjectRequested,
	legacy:    "calculator",
}

// filter is the subject filter of a lane's consumer.
func (t topology) filter(l events.Lane) string { return t.requested + "." + string(l) + ".>" }

// Consumer is the configuration of a lane's durable consumer.
type Consumer struct {
	AckWait       time.Duration // a delivery without ack or InProgress this long is delivered again
	MaxAckPending int           // deliveries in flight across every replica
}

// Layout is what a process provisions and keeps.
type Layout struct {
	// Replicas of the stream and of the durable consumers (NATS_STREAM_REPLICAS).
	Replicas int
	// Consumers are the lane consumers this process creates, updates and recreates: the
	// calculators'. A process with none (the API) creates the stream when it is missing,
	// never changes an existing one, and only watches the consumers, so two kinds of process
	// with different settings never undo each other's changes.
	Consumers map[events.Lane]Consumer
}

func (l Layout) owner() bool { return len(l.Consumers) > 0 }

// Supervisor provisions the stream and the lane consumers in the background and keeps them:
// it checks them every few seconds, recreates one that has vanished (deleted, or a NATS
// restarted with an empty store), and remembers what it saw for /readyz. A process starts
// without waiting for NATS, and reports not ready until the first check passes.
type Supervisor struct {
	js     jetstream.JetStream
	topo   topology
	layout Layout
	log    *slog.Logger
	every  time.Duration

	provisioned chan struct{}
	once        sync.Once

	mu        sync.Mutex
	status    error     // what is wrong, for /readyz; nil when all is there and led
	checkedAt time.Time // when status was last set
	created   time.Time // the stream's creation time as last seen: a new one means it was recreated
	floors    map[events.Lane]uint64
	noLegacy  bool // the legacy consumer is known to be gone
}

// Provision checks and provisions the stream and the consumers of layout once: what a
// Supervisor does every few seconds.
func Provision(ctx context.Context, js jetstream.JetStream, layout Layout) error {
	return NewSupervisor(js, layout, slog.New(slog.DiscardHandler)).Check(ctx)
}

// ProvisionStream creates the stream if it is missing, and nothing else: for tools and
// tests that publish or read events without a calculator.
func ProvisionStream(ctx context.Context, js jetstream.JetStream) error {
	_, _, err := NewSupervisor(js, Layout{Replicas: 1}, slog.New(slog.DiscardHandler)).stream(ctx)
	return err
}

// supervisorEvery is how often the stream and the consumers are checked.
const supervisorEvery = 2 * time.Second

// NewSupervisor returns a supervisor of the FACTORIAL stream; Run starts it.
func NewSupervisor(js jetstream.JetStream, layout Layout, log *slog.Logger) *Supervisor {
	return newSupervisor(js, defaultTopology, layout, log, supervisorEvery)
}

func newSupervisor(js jetstream.JetStream, topo topology, layout Layout, log *slog.Logger, every time.Duration) *Supervisor {
	if layout.Replicas < 1 {
		layout.Replicas = 1
	}
	return &Supervisor{
		js: js, topo: topo, layout: layout, log: log.With("stream", topo.stream), every: every,
		provisioned: make(chan struct{}), floors: map[events.Lane]uint64{},
	}
}

// Run checks and repairs until ctx is cancelled.
func (s *Supervisor) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := s.every
		if s.Check(ctx) != nil {
			next = s.every / 4 // notice a repair (by another process) soon
		}
		t.Reset(next)
	}
}

// Provisioned is closed once the stream and the consumers have been there and led.
func (s *Supervisor) Provisioned() <-chan struct{} { return s.provisioned }

// Ready reports what is wrong with the stream or the lane consumers as of the last check,
// naming the part ("consumer calculator-small: missing"), for /readyz.
func (s *Supervisor) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The messages name the part and say in a word or two what is wrong, never internals
	// (partErr, describe), so /readyz may show them.
	switch {
	case s.checkedAt.IsZero():
		return reason("stream %s: not checked yet", s.topo.stream)
	case time.Since(s.checkedAt) > 3*s.every+checkTimeout:
		return reason("stream %s: no answer from JetStream for %s", s.topo.stream, time.Since(s.checkedAt).Round(time.Second))
	}
	return s.status
}

// checkTimeout bounds one check: every JetStream request in it shares this deadline.
const checkTimeout = 4 * time.Second

// Check looks at the stream and the consumers once, creating or repairing what is missing,
// and returns (and records for Ready) what is still wrong.
func (s *Supervisor) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	err := s.check(cctx)
	if ctx.Err() != nil {
		return err
	}
	s.mu.Lock()
	s.status, s.checkedAt = err, time.Now()
	s.mu.Unlock()
	if err == nil {
		s.once.Do(func() { close(s.provisioned) })
	}
	return err
}

func (s *Supervisor) check(ctx context.Context) error {
	info, fresh, err := s.stream(ctx)
	if err != nil {
		return err
	}
	if noLeader(info.Cluster) {
		return reason("stream %s: no leader", s.topo.stream)
	}
	s.mu.Lock()
	if !info.Created.Equal(s.created) {
		if !s.created.IsZero() {
			s.log.Warn("the stream was recreated; lane consumers start on the new one")
		}
		s.created = info.Created
		clear(s.floors)
	}
	s.mu.Unlock()
	for _, lane := range events.Lanes {
		ci, err := s.consumer(ctx, lane, info, fresh)
		if err != nil {
			return err
		}
		if noLeader(ci.Cluster) {
			return reason("consumer %s: no leader", lane.Durable())
		}
		s.mu.Lock()
		s.floors[lane] = ci.AckFloor.Stream
		s.mu.Unlock()
	}
	s.removeLegacy(ctx)
	return nil
}

// stream returns the stream's info, creating the stream if it is missing (fresh is then
// true) and, for an owner, updating it to the layout.
func (s *Supervisor) stream(ctx context.Context) (info *jetstream.StreamInfo, fresh bool, err error) {
	want := s.streamConfig()
	st, err := s.js.Stream(ctx, s.topo.stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = s.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = s.js.Stream(ctx, s.topo.stream) // another process created it just now
		} else if err == nil {
			fresh = true
			if s.seen() {
				s.log.Warn("the stream was missing; recreated it")
			} else {
				s.log.Info("created the stream", "replicas", want.Replicas)
			}
		}
		if err != nil {
			return nil, false, s.partErr("stream "+s.topo.stream, "create", err)
		}
	case err != nil:
		return nil, false, s.partErr("stream "+s.topo.stream, "look up", err)
	case s.layout.owner():
		cur := st.CachedInfo().Config
		if upd, changed := updateStream(cur, want); changed {
			if st, err = s.js.UpdateStream(ctx, upd); err != nil {
				return nil, false, s.partErr("stream "+s.topo.stream, "update", err)
			}
			s.log.Info("updated the stream", "replicas", upd.Replicas)
		}
	}
	return st.CachedInfo(), fresh, nil
}

func (s *Supervisor) seen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.created.IsZero()
}

func (s *Supervisor) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.topo.stream,
		Description: "factorial requests and results",
		Subjects:    []string{s.topo.subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      streamMaxAge,
		Duplicates:  duplicateWindow,
		Replicas:    s.layout.Replicas,
		// The reconciler asks for the last request of a number; any replica may answer.
		AllowDirect: true,
	}
}

// updateStream returns cur with the settings of want that may change on a live stream, and
// whether any did.
func updateStream(cur, want jetstream.StreamConfig) (jetstream.StreamConfig, bool) {
	upd := cur
	upd.Description, upd.Subjects, upd.MaxAge = want.Description, want.Subjects, want.MaxAge
	upd.Duplicates, upd.Replicas, upd.AllowDirect = want.Duplicates, want.Replicas, want.AllowDirect
	changed := upd.Description != cur.Description || !slices.Equal(upd.Subjects, cur.Subjects) ||
		upd.MaxAge != cur.MaxAge || upd.Duplicates != cur.Duplicates || upd.Replicas != cur.Replicas ||
		upd.AllowDirect != cur.AllowDirect
	return upd, changed
}

// consumer returns the info of lane's consumer; an owner creates it when missing and updates
// it to the layout.
func (s *Supervisor) consumer(ctx context.Context, lane events.Lane, stream *jetstream.StreamInfo, freshStream bool) (*jetstream.ConsumerInfo, error) {
	name := lane.Durable()
	c, err := s.js.Consumer(ctx, s.topo.stream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if !s.layout.owner() {
			return nil, reason("consumer %s: missing", name)
		}
		want := s.consumerConfig(lane)
		s.startAt(&want, lane, stream, freshStream)
		c, err = s.js.CreateConsumer(ctx, s.topo.stream, want)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			c, err = s.js.Consumer(ctx, s.topo.stream, name) // another replica created it just now
		} else if err == nil {
			s.log.Info("created a lane consumer", "consumer", name, "deliver", want.DeliverPolicy.String(),
				"start_seq", want.OptStartSeq, "replicas", want.Replicas)
		}
		if err != nil {
			return nil, s.partErr("consumer "+name, "create", err)
		}
	case err != nil:
		return nil, s.partErr("consumer "+name, "look up", err)
	case s.layout.owner():
		cur := c.CachedInfo().Config
		if upd, changed := updateConsumer(cur, s.consumerConfig(lane)); changed {
			if c, err = s.js.UpdateConsumer(ctx, s.topo.stream, upd); err != nil {
				return nil, s.partErr("consumer "+name, "update", err)
			}
			s.log.Info("updated a lane consumer", "consumer", name, "ack_wait", upd.AckWait, "replicas", upd.Replicas)
		}
	}
	return c.CachedInfo(), nil
}

func (s *Supervisor) consumerConfig(lane events.Lane) jetstream.ConsumerConfig {
	c := s.layout.Consumers[lane]
	return jetstream.ConsumerConfig{
		Durable:       lane.Durable(),
		Description:   "calculators: competing consumers of the " + string(lane) + " lane",
		FilterSubject: s.topo.filter(lane),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1, // the calculator counts attempts itself
		MaxAckPending: c.MaxAckPending,
		Replicas:      s.layout.Replicas,
	}
}

// startAt decides where a new lane consumer starts: on a stream that was just created, at its
// beginning; where the consumer that vanished had acked everything, just after that; on a
// stream that holds messages and no such record, replayWindow back (see its doc).
func (s *Supervisor) startAt(cfg *jetstream.ConsumerConfig, lane events.Lane, stream *jetstream.StreamInfo, freshStream bool) {
	s.mu.Lock()
	floor, known := s.floors[lane]
	s.mu.Unlock()
	switch {
	case freshStream || stream.State.Msgs == 0:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case known:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
	default:
		at := time.Now().Add(-replayWindow)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &at
	}
}

// updateConsumer returns cur with the settings of want that may change on a live consumer,
// and whether any did.
func updateConsumer(cur, want jetstream.ConsumerConfig) (jetstream.ConsumerConfig, bool) {
	upd := cur
	upd.Description, upd.AckWait, upd.MaxAckPending, upd.MaxDeliver = want.Description, want.AckWait, want.MaxAckPending, want.MaxDeliver
	upd.Replicas, upd.FilterSubject = want.Replicas, want.FilterSubject
	changed := upd.Description != cur.Description || upd.AckWait != cur.AckWait || upd.MaxAckPending != cur.MaxAckPending ||
		upd.MaxDeliver != cur.MaxDeliver || upd.Replicas != cur.Replicas || upd.FilterSubject != cur.FilterSubject
	return upd, changed
}

// removeLegacy deletes the first version's single work consumer, which reads a subject
// nothing publishes on any more; its pending requests are the reconciler's.
func (s *Supervisor) removeLegacy(ctx context.Context) {
	s.mu.Lock()
	done := s.noLegacy || s.topo.legacy == "" || !s.layout.owner()
	s.mu.Unlock()
	if done {
		return
	}
	err := s.js.DeleteConsumer(ctx, s.topo.stream, s.topo.legacy)
	switch {
	case err == nil:
		s.log.Info("removed the consumer of the first version", "consumer", s.topo.legacy)
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return
	}
	s.mu.Lock()
	s.noLegacy = true
	s.mu.Unlock()
}

// partErr logs err in full and returns what /readyz shows: the part and, in a word or
// two, what is wrong with it.
func (s *Supervisor) partErr(part, op string, err error) error {
	s.log.Debug("JetStream check", "part", part, "op", op, "err", err)
	return reason("%s: %s", part, describe(err))
}

// describe says in a few words why a JetStream request failed, without the client's
// internals.
func describe(err error) string {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrConsumerNotFound):
		return "missing"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "no answer from JetStream"
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return "JetStream unavailable"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting):
		return "not connected to NATS"
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// JetStream's own words ("consumer config replica count exceeds parent stream"), unless
		// they carry the server's error text (a store failure names a file on its host).
		if strings.ContainsAny(apiErr.Description, "/\\") {
			return fmt.Sprintf("JetStream error %d", apiErr.ErrorCode)
		}
		return apiErr.Description
	}
	return "unavailable"
}

// reason is an error whose message /readyz may show as it is (health.Reason): every error
// this package reports for readiness names the part and says what is wrong in words of its
// own, never the client's or the server's text.
func reason(format string, args ...any) error { return health.Reason(fmt.Sprintf(format, args...)) }

// noLeader reports whether a clustered stream or consumer has lost its leader.
func noLeader(ci *jetstream.ClusterInfo) bool { return ci != nil && ci.Leader == "" }
