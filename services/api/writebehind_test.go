package api

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// The writes of one number run in order, behind the caller; without the writer running they
// run at once; at shutdown what is queued still runs.
func TestCacheWriterKeepsOrderPerNumber(t *testing.T) {
	w := newCacheWriter(4, 1024)
	var mu sync.Mutex
	got := map[int64][]int{}
	write := func(n int64, i int) func(context.Context) {
		return func(context.Context) {
			time.Sleep(time.Microsecond)
			mu.Lock()
			got[n] = append(got[n], i)
			mu.Unlock()
		}
	}
	w.do(t.Context(), 1, write(1, 0)) // not running: at once
	if len(got[1]) != 1 {
		t.Fatal("a write before the writer runs did not run at once")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	for !w.running.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 300; i++ {
		for n := int64(1); n <= 8; n++ {
			w.do(ctx, n, write(n, i))
		}
	}
	cancel()
	<-done
	for n := int64(1); n <= 8; n++ {
		want := make([]int, 0, 301)
		if n == 1 {
			want = append(want, 0)
		}
		for i := 1; i <= 300; i++ {
			want = append(want, i)
		}
		if !slices.Equal(got[n], want) {
			t.Fatalf("writes of %d ran as %v…, want all 300 in order", n, got[n][:min(10, len(got[n]))])
		}
	}
}

// A write handed over while the writer shuts down is done: queued before the drain, or at
// once after it, never left in a lane nobody reads any more.
func TestCacheWriterLosesNoWriteAtShutdown(t *testing.T) {
	for round := range 50 {
		w := newCacheWriter(2, 1024)
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { defer close(stopped); w.run(ctx) }()
		for !w.running.Load() {
			runtime.Gosched()
		}
		var ran, handed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for n := range int64(2) {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					handed.Add(1)
					w.do(context.Background(), n, func(context.Context) { ran.Add(1) })
				}
			})
		}
		runtime.Gosched()
		cancel()
		<-stopped
		time.Sleep(time.Millisecond) // writes handed over after the drain
		close(stop)
		wg.Wait()
		if ran.Load() != handed.Load() {
			t.Fatalf("round %d: %d writes handed over, %d done", round, handed.Load(), ran.Load())
		}
	}
}

// A write queued behind the follower runs in the trace of the event it is for, with its
// request id: its Redis spans and log lines belong to that trace, not to a trace of their own.
func TestCacheWriterWritesInTheCallersTrace(t *testing.T) {
	w := newCacheWriter(1, 8)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	defer func() { cancel(); <-done }()
	for !w.running.Load() {
		time.Sleep(time.Millisecond)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	})
	caller := telemetry.WithRequestID(trace.ContextWithSpanContext(t.Context(), sc), "req-1")
	got := make(chan context.Context, 1)
	w.do(caller, 5, func(c context.Context) { got <- c })
	c := <-got
	if !trace.SpanContextFromContext(c).Equal(sc) {
		t.Errorf("the queued write ran with span context %v, want the caller's %v", trace.SpanContextFromContext(c), sc)
	}
	if id := telemetry.RequestID(c); id != "req-1" {
		t.Errorf("the queued write ran with request id %q, want the caller's req-1", id)
	}
}
