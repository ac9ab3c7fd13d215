package calculator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
)

// errCancelled stops a computation whose request was cancelled (DELETE /api/v1/factorial/{n}).
var errCancelled = errors.New("the request was cancelled")

// Cancelling a request marks its record cancelled, which takes the claim away: the
// computation's next heartbeat (every CALCULATOR_PROGRESS_INTERVAL) finds it gone and stops
// it. That alone stops it within the interval plus the engine's own reaction. To stop it at
// once, the API also publishes factorial.cancelled, which every calculator follows with a
// plain subscription: the one computing n cancels it as soon as the event arrives. The event
// is the fast path and the heartbeat the sure one (an event missed while disconnected is
// caught by the next heartbeat).

// running holds the cancel functions of the computations in flight in this process, by number.
type running struct {
	mu   sync.Mutex
	byN  map[int64]context.CancelCauseFunc
	recs interface {
		Get(ctx context.Context, n int64) (database.Record, error)
	}
	log *slog.Logger
}

func newRunning(recs interface {
	Get(ctx context.Context, n int64) (database.Record, error)
}, log *slog.Logger) *running {
	return &running{byN: map[int64]context.CancelCauseFunc{}, recs: recs, log: log}
}

// add registers the computation of n, until the returned function is called.
func (r *running) add(n int64, cancel context.CancelCauseFunc) (remove func()) {
	r.mu.Lock()
	r.byN[n] = cancel
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.byN, n)
		r.mu.Unlock()
	}
}

// cancelled handles a factorial.cancelled event: if this process computes n and its record
// is indeed cancelled (an event can arrive late, after n was asked again and claimed anew),
// the computation is cancelled.
func (r *running) cancelled(m *nats.Msg) {
	var c events.Cancelled
	if err := events.Decode(m.Data, &c); err != nil {
		r.log.Warn("ignoring an unreadable factorial.cancelled", "err", err)
		return
	}
	r.mu.Lock()
	cancel, ok := r.byN[c.Number]
	r.mu.Unlock()
	if !ok {
		return
	}
	ctx, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	rec, err := r.recs.Get(ctx, c.Number)
	if err != nil {
		r.log.Warn("check a cancelled request; its next heartbeat will", "number", c.Number, "err", err)
		return
	}
	if rec.Status == database.StatusCancelled {
		cancel(errCancelled)
	}
}

// follow subscribes to factorial.cancelled on nc until ctx ends.
func (r *running) follow(ctx context.Context, nc *nats.Conn) {
	sub, err := nc.Subscribe(events.SubjectCancelled, r.cancelled)
	if err != nil {
		r.log.Warn("not following factorial.cancelled; cancelled computations stop at their next heartbeat", "err", err)
		return
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
}
