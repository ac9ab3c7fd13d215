package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Follower hands every new event of the stream to a handler, in stream order, through an
// ordered consumer of its own: each API replica sees every event. It starts with the events
// published after it starts, survives NATS restarts (nats.go recreates an ordered consumer
// where it stopped), and when the stream itself is recreated it starts again at the
// beginning of the new one, so results announced while the stream was gone still arrive.
type Follower struct {
	js     jetstream.JetStream
	topo   topology
	log    *slog.Logger
	handle func(context.Context, jetstream.Msg)
	every  time.Duration // how often the stream is checked for having been recreated

	mu        sync.Mutex
	err       error // why it is not following; nil while it is
	following chan struct{}
	once      sync.Once
}

// NewFollower follows the FACTORIAL stream over nc, calling handle for each event from a
// single goroutine (Run's).
func NewFollower(nc *nats.Conn, handle func(context.Context, jetstream.Msg), log *slog.Logger) (*Follower, error) {
	return newFollower(nc, defaultTopology, handle, log, supervisorEvery)
}

func newFollower(nc *nats.Conn, topo topology, handle func(context.Context, jetstream.Msg), log *slog.Logger, every time.Duration) (*Follower, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Follower{js: js, topo: topo, log: log, handle: handle, every: every,
		err: reason("not following the events yet"), following: make(chan struct{})}, nil
}

// Ready reports whether the follower follows the stream, for /readyz.
func (f *Follower) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Following is closed once the follower has started to follow the stream.
func (f *Follower) Following() <-chan struct{} { return f.following }

func (f *Follower) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	if err == nil {
		f.once.Do(func() { close(f.following) })
	}
}

// Run follows until ctx is cancelled. When it returns, the handler is not running and will
// not be called again.
func (f *Follower) Run(ctx context.Context) error {
	var pos position
	for {
		err := f.follow(ctx, &pos)
		if ctx.Err() != nil {
			f.set(reason("stopped following the events"))
			return nil
		}
		f.set(reason("events: %s", describe(err)))
		f.log.Debug("following the events again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(f.every / 4):
		}
	}
}

// position is where the follower stands: on which stream (by creation time) and at which
// sequence the next event is.
type position struct {
	created time.Time
	next    uint64
}

// errRecreated stops following a stream that was replaced by a new one.
var errRecreated = errors.New("the stream was recreated")

func (f *Follower) follow(ctx context.Context, pos *position) error {
	lctx, cancel := context.WithTimeout(ctx, checkTimeout)
	st, err := f.js.Stream(lctx, f.topo.stream)
	cancel()
	if err != nil {
		return err
	}
	info := st.CachedInfo()
	switch {
	case pos.created.IsZero():
		pos.next = info.State.LastSeq + 1 // new events only
	case !info.Created.Equal(pos.created):
		f.log.Warn("the stream was recreated; following it from its beginning")
		pos.next = 1
	}
	pos.created = info.Created
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.topo.subjects},
		// Not DeliverNewPolicy: nats.go recreates an ordered consumer that has delivered
		// nothing yet with its first policy, and "new" then would skip what was published
		// while it was disconnected.
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   pos.next,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	f.set(nil)

	// Stop the iterator when ctx ends or the stream is replaced: Next then returns. It.Stop
	// alone is not enough: when it comes while nats.go recreates the ordered consumer (after
	// a reconnect or a gap), it stops the old pull subscription and the new one is installed
	// after it, unstopped, so Next would wait on it for ever (the API's shutdown hung so in
	// TestJetStreamStateHealsItself). Next's context ends the wait whatever the iterator holds.
	nextCtx, endNext := context.WithCancel(ctx)
	defer endNext()
	var (
		stopMu  sync.Mutex
		stopErr error
		stopped bool
	)
	stop := func(err error) {
		stopMu.Lock()
		defer stopMu.Unlock()
		if !stopped {
			stopped, stopErr = true, err
			endNext()
			it.Stop()
		}
	}
	why := func() error {
		stopMu.Lock()
		defer stopMu.Unlock()
		return stopErr
	}
	watchCtx, endWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		endWatch()
		wg.Wait()
		stop(nil)
	}()
	wg.Go(func() { f.watch(watchCtx, pos.created, stop) })

	for {
		msg, err := it.Next(jetstream.NextContext(nextCtx))
		if err != nil {
			if stopErr := why(); stopErr != nil {
				return stopErr
			}
			return err
		}
		if md, err := msg.Metadata(); err == nil {
			pos.next = md.Sequence.Stream + 1
		}
		f.handle(ctx, msg)
	}
}

// watch calls stop when ctx ends, or when the stream is found missing or recreated.
func (f *Follower) watch(ctx context.Context, created time.Time, stop func(error)) {
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop(ctx.Err())
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, checkTimeout)
		st, err := f.js.Stream(lctx, f.topo.stream)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			stop(jetstream.ErrStreamNotFound)
			return
		case err == nil && !st.CachedInfo().Created.Equal(created):
			stop(errRecreated)
			return
		}
	}
}
