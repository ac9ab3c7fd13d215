package factorial

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// task carries what one computation shares across goroutines: cancellation, progress and the
// number of workers. Cancellation is cooperative: once stopped, transforms return early with
// meaningless results, and the caller checks err at the end of each step.
type task struct {
	ctx     context.Context
	stop    atomic.Bool
	release func() bool
	workers int

	progress func(float64) // nil when nobody listens
	total    atomic.Int64  // estimated work units of the whole task
	done     atomic.Int64  // work units done so far
	next     atomic.Int64  // done value at which to report next
	mu       sync.Mutex    // serialises calls to progress
	reported float64       // last fraction passed to progress

	buffers bufferCache // transform buffers of the heap products, released by factorial
}

// splitAlign is the alignment of the ranges that parallel hands out: a multiple of the length of
// any fine twiddle table (see twiddles) for transforms up to 2^32.
const splitAlign = 1 << (32 - tableLog)

// reportSteps is roughly how many progress reports a task makes.
const reportSteps = 1000

func newTask(ctx context.Context, progress func(float64)) *task {
	t := &task{ctx: ctx, progress: progress, workers: runtime.GOMAXPROCS(0)}
	t.release = context.AfterFunc(ctx, func() { t.stop.Store(true) })
	t.total.Store(1)
	return t
}

// close releases the task's hold on its context, and its buffers if any are left.
func (t *task) close() {
	t.release()
	t.buffers.release()
}

// stopped reports whether the context has been cancelled.
func (t *task) stopped() bool { return t.stop.Load() }

// err returns the context's error, if any. Unlike stopped, it sees a cancellation at once.
func (t *task) err() error { return t.ctx.Err() }

// setTotal sets the estimated amount of work of the whole task.
func (t *task) setTotal(units int64) {
	t.total.Store(max(units, 1))
	t.next.Store(0)
}

// advance records units of work done and reports progress when it has moved enough.
func (t *task) advance(units int64) {
	d := t.done.Add(units)
	if t.progress == nil || d < t.next.Load() {
		return
	}
	total := t.total.Load()
	t.next.Store(d + total/reportSteps)
	// Until the task finishes, stay below 1: the total is only an estimate.
	t.report(min(float64(d)/float64(total), 0.999))
}

// report passes f to the progress callback unless that would go backwards.
func (t *task) report(f float64) {
	if t.progress == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if f < t.reported {
		return
	}
	t.reported = f
	t.progress(f)
}

// parallel runs f over [0, count) split among the workers when the work (of size n) is large
// enough, and waits for it. It cuts the range in more pieces than there are workers, which
// take them in turn: on a machine shared with other work, a worker whose core is taken holds
// up one piece, not half of the pass.
func (t *task) parallel(n int, f func(lo, hi int), count int) {
	if n < 1<<parallelLog || t.workers < 2 {
		f(0, count)
		return
	}
	pieces := max(1, min(4*t.workers, count/splitAlign))
	bound := func(i int) int {
		if i == pieces {
			return count
		}
		// Keep the bounds aligned so that split twiddle loops stay whole.
		return (count * i / pieces) &^ (splitAlign - 1)
	}
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < pieces; i = int(next.Add(1) - 1) {
			if lo, hi := bound(i), bound(i+1); lo < hi {
				f(lo, hi)
			}
		}
	}
	var wg sync.WaitGroup
	for range t.workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// all runs fs, concurrently when the work (of size n) is large enough.
func (t *task) all(n int, fs ...func()) {
	if n < 1<<parallelLog || t.workers < 2 {
		for _, f := range fs {
			f()
		}
		return
	}
	var wg sync.WaitGroup
	for _, f := range fs[1:] {
		wg.Go(f)
	}
	fs[0]()
	wg.Wait()
}
