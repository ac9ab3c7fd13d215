// Package batch gathers concurrent calls into batches: one statement, pipeline or request
// for many callers, so a crowd costs a round trip per batch instead of one per caller.
package batch

import (
	"context"
	"slices"
	"sync"
)

// Group runs concurrent calls in batches: while one batch runs, the calls that arrive queue
// up, and the next batch takes all of them (at most max). It needs no goroutine of its own:
// a flush runs while calls wait and stops when none do, so a call that comes alone goes at
// once, with no window to wait for.
//
// A call whose context has ended by the time its batch starts is dropped, not run: its
// caller has left with ctx's error and nobody reads its outcome. Without this, a run that
// stalls (a database that does not answer) lets callers who gave up pile up, and when it
// answers again their work is all done at once, though every one of them was told it failed.
// A call whose caller leaves after its batch started is still run to its end.
type Group[In, Out any] struct {
	max int
	run func([]In) []Out

	mu       sync.Mutex
	waiting  []call[In, Out]
	flushing bool
}

type call[In, Out any] struct {
	ctx  context.Context
	in   In
	done chan Out // buffered: a flush never blocks on a caller that left
}

// New returns a group whose batches hold at most max inputs and are run by run, which
// returns one outcome per input, in order. run bounds its own time: a caller may leave
// before its batch ends.
func New[In, Out any](max int, run func([]In) []Out) *Group[In, Out] {
	return &Group[In, Out]{max: max, run: run}
}

// Do queues in and returns its outcome, or ctx's error if ctx ends first. in is not run when
// ctx has ended before its batch starts; once the batch started, it runs to its end (a run
// that must know which of its inputs were left sees their contexts only if In carries them).
func (g *Group[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := call[In, Out]{ctx: ctx, in: in, done: make(chan Out, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	if !g.flushing {
		g.flushing = true
		go g.flush()
	}
	g.mu.Unlock()
	select {
	case out := <-c.done:
		return out, nil
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// flush runs what waits, batch after batch, until nothing does. Calls whose caller left
// while they waited are dropped (see Group).
func (g *Group[In, Out]) flush() {
	for {
		g.mu.Lock()
		k := min(len(g.waiting), g.max)
		if k == 0 {
			g.flushing = false
			g.mu.Unlock()
			return
		}
		calls := g.waiting[:k:k]
		g.waiting = g.waiting[k:]
		g.mu.Unlock()
		calls = slices.DeleteFunc(calls, func(c call[In, Out]) bool { return c.ctx.Err() != nil })
		if len(calls) == 0 {
			continue
		}
		ins := make([]In, len(calls))
		for i, c := range calls {
			ins[i] = c.in
		}
		for i, out := range g.run(ins) {
			calls[i].done <- out
		}
	}
}
