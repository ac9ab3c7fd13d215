package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// cacheWriter writes the shared cache (Redis) behind the event follower. The follower is one
// goroutine and takes every event of the stream in order; were it to wait for a Redis round
// trip per factorial.computed, thousands of results a second would queue behind it, and the
// waiters it wakes with them (measured: the tiny workload of bench-load at 251 results/s with
// Redis, 363 without). The process's own cache (hot.go) is filled before the follower wakes
// anyone; Redis, which only other replicas and later requests read, a moment later.
//
// The writes of one number go through one lane, in order (a factorial.failed after a
// factorial.computed deletes what it wrote); a full lane writes in the follower's goroutine,
// which slows the follower down rather than let the queue grow.
//
// A write is handed to a lane only under mu, with running checked there: run clears running
// under mu before it drains the lanes, so every write queued is queued before the drain (and
// done by it) and every write after it is done at once, in the caller's goroutine. Checked
// apart, a write seen running could be sent into a lane after the drain and never done.
type cacheWriter struct {
	lanes   []chan func(context.Context)
	mu      sync.Mutex
	running atomic.Bool // changed under mu; read alone only by tests
}

func newCacheWriter(lanes, depth int) *cacheWriter {
	w := &cacheWriter{lanes: make([]chan func(context.Context), lanes)}
	for i := range w.lanes {
		w.lanes[i] = make(chan func(context.Context), depth)
	}
	return w
}

// do runs write for n behind the caller, or now when the writer does not run or the lane is
// full. Behind the caller, write gets the writer's context (its lifetime) carrying the trace
// and request id of ctx, so its Redis spans and log lines belong to the event's trace.
func (w *cacheWriter) do(ctx context.Context, n int64, write func(context.Context)) {
	w.mu.Lock()
	if w.running.Load() {
		queued := write
		if sc, id := trace.SpanContextFromContext(ctx), telemetry.RequestID(ctx); sc.IsValid() || id != "" {
			queued = func(c context.Context) {
				if sc.IsValid() {
					c = trace.ContextWithSpanContext(c, sc)
				}
				write(telemetry.WithRequestID(c, id))
			}
		}
		select {
		case w.lanes[uint64(n)%uint64(len(w.lanes))] <- queued:
			w.mu.Unlock()
			return
		default:
		}
	}
	w.mu.Unlock()
	write(ctx)
}

// writeBehindDrain bounds the writes done at shutdown.
const writeBehindDrain = 2 * time.Second

// run writes until ctx ends, then what is queued, within writeBehindDrain.
func (w *cacheWriter) run(ctx context.Context) {
	w.mu.Lock()
	w.running.Store(true)
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, lane := range w.lanes {
		wg.Go(func() {
			for {
				select {
				case write := <-lane:
					write(ctx)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	w.mu.Lock() // no write is being handed over; from now on they are done at once
	w.running.Store(false)
	w.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeBehindDrain)
	defer cancel()
	for _, lane := range w.lanes {
		for drained := false; !drained; {
			select {
			case write := <-lane:
				write(dctx)
			default:
				drained = true
			}
		}
	}
}
