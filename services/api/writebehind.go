package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
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
type cacheWriter struct {
	lanes   []chan func(context.Context)
	running atomic.Bool
}

func newCacheWriter(lanes, depth int) *cacheWriter {
	w := &cacheWriter{lanes: make([]chan func(context.Context), lanes)}
	for i := range w.lanes {
		w.lanes[i] = make(chan func(context.Context), depth)
	}
	return w
}

// do runs write for n behind the caller, or now when the writer does not run or the lane is
// full.
func (w *cacheWriter) do(ctx context.Context, n int64, write func(context.Context)) {
	if w.running.Load() {
		select {
		case w.lanes[uint64(n)%uint64(len(w.lanes))] <- write:
			return
		default:
		}
	}
	write(ctx)
}

// writeBehindDrain bounds the writes done at shutdown.
const writeBehindDrain = 2 * time.Second

// run writes until ctx ends, then what is queued, within writeBehindDrain.
func (w *cacheWriter) run(ctx context.Context) {
	w.running.Store(true)
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
	w.running.Store(false)
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
