package natsbus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Replay hands over the events after a sequence, up to the last stored, in order; it refuses
// (ErrReplayGap) more than its bound and a sequence the stream never reached.
func TestReplay(t *testing.T) {
	t.Parallel()
	b := bus{url: startServer(t).ClientURL(), topo: defaultTopology}
	js, _ := provisionBus(t, b, lanes(time.Minute, 10))
	for range 5 {
		if _, err := js.Publish(t.Context(), b.subject("progress"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	f, err := newFollower(dial(t, b.url, "replay"), b.topo, func(context.Context, jetstream.Msg) {}, testLogger(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(after uint64, max int) ([]uint64, error) {
		var seqs []uint64
		err := f.Replay(t.Context(), after, max, func(_ string, seq uint64, _ []byte) {
			seqs = append(seqs, seq)
		})
		return seqs, err
	}
	if got, err := replay(2, 10); err != nil || !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Errorf("after 2: %v, %v; want 3, 4, 5", got, err)
	}
	if got, err := replay(5, 10); err != nil || len(got) != 0 {
		t.Errorf("after the last: %v, %v; want nothing", got, err)
	}
	// The last events gone from the stream (deleted, or a replica not caught up answering):
	// what it said it held cannot all be had.
	st, err := js.Stream(t.Context(), b.topo.stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{4, 5} {
		if err := st.DeleteMsg(t.Context(), seq); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := replay(3, 10); !errors.Is(err, ErrReplayGap) {
		t.Errorf("after 3 with 4 and 5 gone: %v, %v; want ErrReplayGap", got, err)
	}
	for _, tc := range []struct {
		after uint64
		max   int
	}{{0, 2}, {99, 10}} {
		if got, err := replay(tc.after, tc.max); !errors.Is(err, ErrReplayGap) || len(got) != 0 {
			t.Errorf("after %d, at most %d: %v, %v; want ErrReplayGap and nothing", tc.after, tc.max, got, err)
		}
	}
}

// Replay ends with its context when NATS goes away in the middle of it (a restart, a cut):
// an SSE request that resumes is bounded (the API gives a replay 5 s). Through an ordered
// consumer it did not return while NATS was away: its Fetch recreated the consumer without
// end, ignoring the context.
func TestReplayEndsWithItsContextWhenNATSGoesAway(t *testing.T) {
	ns := startServer(t)
	b := bus{url: ns.ClientURL(), topo: defaultTopology}
	js, _ := provisionBus(t, b, lanes(time.Minute, 10))
	for range 600 {
		if _, err := js.Publish(t.Context(), b.subject("progress"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	f, err := newFollower(dial(t, b.url, "replay"), b.topo, func(context.Context, jetstream.Msg) {}, testLogger(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	var once sync.Once
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- f.Replay(ctx, 0, 1000, func(string, uint64, []byte) {
			once.Do(ns.Shutdown) // NATS goes away after the first event
		})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Replay returned no error after NATS went away in its middle (%v)", time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Replay with a 2 s context still running after %v", time.Since(start))
	}
}
