package natsbus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fanout is one API replica following the stream.
type fanout struct {
	f    *Follower
	mu   sync.Mutex
	got  []string // "subject payload"
	done chan error
}

func follow(t *testing.T, b bus) *fanout {
	t.Helper()
	r := &fanout{done: make(chan error, 1)}
	f, err := newFollower(dial(t, b.url, "follower"), b.topo, func(_ context.Context, m jetstream.Msg) {
		r.mu.Lock()
		r.got = append(r.got, string(m.Data()))
		r.mu.Unlock()
	}, testLogger(t), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r.f = f
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "the follower never followed", func() bool { return f.Ready(t.Context()) == nil })
	return r
}

func (r *fanout) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *fanout) waitFor(t *testing.T, d time.Duration, want ...string) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("want %q, have %q", want, r.payloads()), func() bool { return len(r.payloads()) >= len(want) })
	if got := r.payloads(); !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func publish(t *testing.T, pub *Publisher, subject string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := pub.Publish(t.Context(), Msg{Subject: subject, Data: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFollowerGivesEveryReplicaEveryNewEvent(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		provisionBus(t, b, lanes(time.Minute, 8))
		pub := newPublisher(t, b.url)
		publish(t, pub, b.subject("computed"), "before")
		replicas := []*fanout{follow(t, b), follow(t, b)}
		publish(t, pub, b.subject("computed"), "c1")
		publish(t, pub, b.requestSubject(5), "r5")
		publish(t, pub, b.subject("progress"), "p1")
		for _, r := range replicas {
			r.waitFor(t, 5*time.Second, "c1", "r5", "p1")
		}
	})
}

// After the embedded server restarts (same store and port), the followers reconnect and go
// on where they stopped: events published afterwards arrive, even those published before
// their connections are back, and even at a replica that had received nothing yet.
func TestFollowerFollowsAcrossAServerRestart(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	e, err := StartEmbedded(dir, addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: the followers stop while the server is up.
	t.Cleanup(func() { e.Shutdown() })
	b := bus{url: e.serviceURL(), topo: defaultTopology}
	provisionBus(t, b, lanes(time.Minute, 8))
	pub := newPublisher(t, b.url)
	seen, fresh := follow(t, b), follow(t, b)
	publish(t, pub, b.subject("computed"), "c1")
	seen.waitFor(t, 5*time.Second, "c1")
	fresh.waitFor(t, 5*time.Second, "c1")

	e.Shutdown()
	if e, err = StartEmbedded(dir, addr, testLogger(t)); err != nil {
		t.Fatalf("restart: %v", err)
	}
	early := newPublisher(t, b.url) // a new connection, at once
	publish(t, early, b.subject("computed"), "c2")
	publish(t, early, b.subject("failed"), "f1")
	seen.waitFor(t, 15*time.Second, "c1", "c2", "f1")
	fresh.waitFor(t, 15*time.Second, "c1", "c2", "f1")
}

// When the stream is deleted and created again (a NATS restarted with an empty store), the
// follower follows the new stream from its first event: what was announced on it before the
// follower noticed is not skipped.
func TestFollowerFollowsARecreatedStream(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js, sup := provisionBus(t, b, lanes(time.Minute, 8))
		pub := newPublisher(t, b.url)
		for i := range 5 {
			publish(t, pub, b.subject("progress"), fmt.Sprint("old", i))
		}
		r := follow(t, b)
		publish(t, pub, b.subject("computed"), "c1")
		r.waitFor(t, 5*time.Second, "c1")
		if err := js.DeleteStream(t.Context(), b.topo.stream); err != nil {
			t.Fatal(err)
		}
		recheck(t, sup, "check after the stream was deleted")
		publish(t, pub, b.subject("computed"), "c2")
		r.waitFor(t, 10*time.Second, "c1", "c2")
	})
}

// Stopping a follower while events pour in returns promptly, never panics, and the handler
// is not called once Run has returned.
func TestFollowerStopsCleanlyUnderLoad(t *testing.T) {
	t.Parallel()
	b := bus{url: startServer(t).ClientURL(), topo: defaultTopology}
	provisionBus(t, b, lanes(time.Minute, 8))
	pub := newPublisher(t, b.url)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var published sync.WaitGroup
	published.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			msgs := make([]Msg, 100)
			for j := range msgs {
				msgs[j] = Msg{Subject: b.subject("progress"), Data: fmt.Appendf(nil, "%d", i)}
			}
			pub.PublishAll(ctx, msgs)
		}
	})
	for round := range 5 {
		var returned atomic.Bool
		var calls, late atomic.Int64
		f, err := newFollower(dial(t, b.url, "follower"), b.topo, func(context.Context, jetstream.Msg) {
			calls.Add(1)
			if returned.Load() {
				late.Add(1)
			}
			time.Sleep(50 * time.Microsecond)
		}, testLogger(t), 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		fctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.Run(fctx) }()
		waitFor(t, 5*time.Second, "no events handled", func() bool { return calls.Load() > 100 })
		stop()
		select {
		case err := <-done:
			returned.Store(true)
			if err != nil {
				t.Fatalf("round %d: Run: %v", round, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Run did not return within 5s of the cancel", round)
		}
		time.Sleep(100 * time.Millisecond)
		if n := late.Load(); n > 0 {
			t.Fatalf("round %d: the handler ran %d times after Run returned", round, n)
		}
	}
	cancel()
	published.Wait()
}
