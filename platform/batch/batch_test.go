package batch_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/batch"
)

// Concurrent calls share batches of at most max, each gets its own outcome, and a call that
// comes alone is run at once.
func TestConcurrentCallsShareBatches(t *testing.T) {
	var runs, biggest atomic.Int32
	g := batch.New(16, func(ins []int) []int {
		runs.Add(1)
		if n := int32(len(ins)); n > biggest.Load() {
			biggest.Store(n) // one flush runs at a time
		}
		time.Sleep(10 * time.Millisecond) // a round trip
		outs := make([]int, len(ins))
		for i, in := range ins {
			outs[i] = in * in
		}
		return outs
	})
	const calls = 200
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if out, err := g.Do(t.Context(), i); err != nil || out != i*i {
				t.Errorf("Do(%d) = %d, %v; want %d", i, out, err, i*i)
			}
		})
	}
	wg.Wait()
	if biggest.Load() > 16 {
		t.Errorf("a batch of %d, want at most 16", biggest.Load())
	}
	if runs.Load() > calls/4 {
		t.Errorf("%d batches for %d concurrent calls, want them shared", runs.Load(), calls)
	}

	start := time.Now()
	if out, err := g.Do(t.Context(), 3); err != nil || out != 9 {
		t.Fatalf("Do(3) = %d, %v", out, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a call alone took %v, want it run at once", d)
	}
}

// A caller whose context ends returns at once with its error; the others are answered.
func TestCallerLeaves(t *testing.T) {
	release := make(chan struct{})
	g := batch.New(8, func(ins []string) []string {
		<-release
		return ins
	})
	ctx, cancel := context.WithCancel(t.Context())
	left := make(chan error, 1)
	go func() { _, err := g.Do(ctx, "leaver"); left <- err }()
	stayed := make(chan string, 1)
	go func() { out, _ := g.Do(t.Context(), "stayer"); stayed <- out }()
	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("leaver got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller whose context ended still waits for its batch")
	}
	close(release)
	if out := <-stayed; out != "stayer" {
		t.Errorf("stayer got %q", out)
	}
}

// A call whose caller left while it waited for its batch is not run: a stalled run (a
// database that does not answer) must not leave behind a backlog of work every caller of
// which was told it failed. The calls still waited for are run.
func TestCallsLeftBeforeTheirBatchAreNotRun(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ran []string
	g := batch.New(8, func(ins []string) []string {
		mu.Lock()
		ran = append(ran, ins...)
		mu.Unlock()
		if ins[0] == "first" {
			<-release // the first batch stalls while the others queue up
		}
		return ins
	})
	first := make(chan string, 1)
	go func() { out, _ := g.Do(t.Context(), "first"); first <- out }()
	for {
		mu.Lock()
		started := len(ran) > 0
		mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	left := make(chan error, 1)
	go func() { _, err := g.Do(ctx, "leaver"); left <- err }()
	stayed := make(chan string, 1)
	go func() { out, _ := g.Do(t.Context(), "stayer"); stayed <- out }()
	time.Sleep(20 * time.Millisecond) // both queued behind the first batch
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("leaver got %v, want context.Canceled", err)
	}
	close(release)
	if out := <-first; out != "first" {
		t.Errorf("first got %q", out)
	}
	if out := <-stayed; out != "stayer" {
		t.Errorf("stayer got %q", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(ran, "leaver") {
		t.Errorf("ran %v: a call whose caller left before its batch started was run", ran)
	}
}
