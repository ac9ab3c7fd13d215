package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

func newTestWorker(t *testing.T, b bus, lane events.Lane) *Worker {
	t.Helper()
	w, err := newWorker(dial(t, b.url, "worker-"+string(lane)), b.topo, lane)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Fetch takes what is waiting at once, up to the batch size, from its own lane only; on an
// empty lane it waits for the next message and returns as soon as it comes, or with nothing
// at the pull's expiry.
//
// No bound here is a machine's speed: on a loaded machine the heartbeats of a waiting pull
// may come late, and Fetch then takes the pull for lost and returns nothing (no sooner than
// two heartbeats, 2*pullHeartbeat): the caller pulls again, and so does the test.
func TestWorkerFetchesBatches(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js, _ := provisionBus(t, b, lanes(time.Minute, 1000))
		for n := range int64(70) {
			if _, err := js.Publish(t.Context(), b.requestSubject(n), []byte(fmt.Sprint(n))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := js.Publish(t.Context(), b.requestSubject(events.SmallMaxNumber+1), []byte("large")); err != nil {
			t.Fatal(err)
		}
		// The server counts a consumer's pending messages a moment after it stored them, and a
		// no-wait pull finds nothing before: "what is waiting" is what it has counted.
		waitPending(t, js, b, events.LaneSmall, 70)

		small := newTestWorker(t, b, events.LaneSmall)
		got, biggest := 0, 0
		for fetches := 0; got < 70; fetches++ {
			if fetches == 5 {
				t.Fatalf("5 fetches took %d of the 70 messages waiting", got)
			}
			start := time.Now()
			msgs, err := small.Fetch(t.Context(), 64)
			if err != nil || len(msgs) == 0 || len(msgs) > 64 {
				t.Fatalf("fetch: %d messages (%v), want 1 to 64", len(msgs), err)
			}
			biggest = max(biggest, len(msgs))
			if took := time.Since(start); took >= atExpiry {
				t.Errorf("fetching what was waiting took %v: it waited for the pull's expiry", took)
			}
			for _, m := range msgs {
				if m.Subject() != b.requestSubject(int64(got)) || string(m.Data()) != fmt.Sprint(got) {
					t.Fatalf("message %s %q, want request %d in order", m.Subject(), m.Data(), got)
				}
				got++
				_ = m.Ack()
			}
		}
		if biggest < 32 {
			t.Errorf("the largest batch had %d messages, with 70 waiting", biggest)
		}
		if err := small.Ready(t.Context()); err != nil {
			t.Errorf("Ready after fetching: %v", err)
		}

		large := newTestWorker(t, b, events.LaneLarge)
		msgs, err := large.Fetch(t.Context(), 1)
		if err != nil || len(msgs) != 1 || string(msgs[0].Data()) != "large" {
			t.Fatalf("large lane: %d messages, %v", len(msgs), err)
		}

		// Nothing waiting: the fetch waits, and returns the message published meanwhile as
		// soon as it comes, not at the pull's expiry.
		go func() {
			time.Sleep(500 * time.Millisecond)
			_, _ = js.Publish(context.Background(), b.requestSubject(100), []byte("late"))
		}()
		msgs, took := waitingFetch(t, small, "waiting fetch")
		if len(msgs) != 1 || string(msgs[0].Data()) != "late" {
			t.Fatalf("waiting fetch: %d messages, want the one published meanwhile", len(msgs))
		}
		if took >= atExpiry {
			t.Errorf("waiting fetch returned after %v, the message published at 500ms: at the pull's expiry, not when it came", took)
		}

		// Nothing at all: an empty batch, no error, once the pull has expired (or been taken
		// for lost): Fetch waits, never returns at once, and never past the pull's expiry
		// (the context's deadline is only there to fail a fetch that hangs).
		ctx, cancel := context.WithTimeout(t.Context(), 3*pullExpiry)
		defer cancel()
		start := time.Now()
		msgs, err = small.Fetch(ctx, 64)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("idle fetch: %d messages, %v", len(msgs), err)
		}
		if took := time.Since(start); took < 2*pullHeartbeat {
			t.Errorf("idle fetch returned after %v: it did not wait", took)
		}
	})
}

// atExpiry is how soon a fetch that waits for its pull to expire returns at the earliest
// (nats.go asks the server for an expiry a tenth short of the context's deadline).
const atExpiry = pullExpiry - time.Second

// waitingFetch fetches from an empty lane until a message comes, and returns it with how long
// the fetch that got it took. An empty batch is a pull taken for lost (its heartbeats late)
// or expired, so it must have waited at least two heartbeats; a few in a row are allowed for
// a loaded machine.
func waitingFetch(t *testing.T, w *Worker, what string) ([]jetstream.Msg, time.Duration) {
	t.Helper()
	for range 5 {
		start := time.Now()
		msgs, err := w.Fetch(t.Context(), 64)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(msgs) > 0 {
			return msgs, time.Since(start)
		}
		if took := time.Since(start); took < 2*pullHeartbeat {
			t.Fatalf("%s returned nothing after %v: it did not wait", what, took)
		}
		t.Logf("%s returned nothing after %v; fetching again", what, time.Since(start).Round(time.Millisecond))
	}
	t.Fatalf("%s: 5 fetches returned nothing", what)
	return nil, 0
}

// waitPending waits until lane's consumer on b counts n messages pending.
func waitPending(t *testing.T, js jetstream.JetStream, b bus, lane events.Lane, n uint64) {
	t.Helper()
	c, err := js.Consumer(t.Context(), b.topo.stream, lane.Durable())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("consumer %s does not count the %d messages published as pending", lane.Durable(), n), func() bool {
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumPending >= n
	})
}

// A worker whose consumer is deleted says so in Ready within the grace period, names the
// consumer, and fetches again once the consumer is recreated.
func TestWorkerReadinessFollowsItsConsumer(t *testing.T) {
	t.Parallel()
	b := bus{url: startServer(t).ClientURL(), topo: defaultTopology}
	js, sup := provisionBus(t, b, lanes(time.Minute, 16))
	w := newTestWorker(t, b, events.LaneSmall)
	if err := w.Ready(t.Context()); err == nil {
		t.Error("ready before any fetch")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if msgs, err := w.Fetch(ctx, 8); err != nil {
				time.Sleep(100 * time.Millisecond)
			} else {
				for _, m := range msgs {
					_ = m.Ack()
				}
			}
		}
	}()
	waitFor(t, 5*time.Second, "never ready", func() bool { return w.Ready(t.Context()) == nil })

	if err := js.DeleteConsumer(t.Context(), events.Stream, events.LaneSmall.Durable()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, pullExpiry+fetchGrace+5*time.Second, "still ready with its consumer gone", func() bool {
		return w.Ready(t.Context()) != nil
	})
	if err := w.Ready(t.Context()); !strings.HasPrefix(err.Error(), "consumer calculator-small: cannot fetch") {
		t.Errorf("Ready = %q", err)
	}
	recheck(t, sup, "check after the consumer was deleted")
	if _, err := js.Publish(t.Context(), b.requestSubject(3), []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "not ready again after the consumer was recreated", func() bool {
		return w.Ready(t.Context()) == nil
	})
	c, err := js.Consumer(t.Context(), events.Stream, events.LaneSmall.Durable())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the message published after was not fetched", func() bool {
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == 1
	})
}

// A pull request that the consumer's leader forgot (its node died, or leadership moved
// without a word to the client: the stall of issue 7.10) is noticed within two idle
// heartbeats, long before the pull would expire, and Fetch returns so that its caller pulls
// again from the new leader. The "JetStream" here answers consumer info and ignores every
// pull request, as a leader that lost them does.
func TestWorkerNoticesAForgottenPull(t *testing.T) {
	t.Parallel()
	srv := startCoreServer(t) // no JetStream: the test answers its API itself
	nc := dial(t, srv.ClientURL(), "fake-jetstream")
	info := fmt.Sprintf(`{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":%q,"name":%q,"created":"2026-01-01T00:00:00Z","config":{"durable_name":%q,"ack_policy":"explicit"}}`,
		events.Stream, events.LaneSmall.Durable(), events.LaneSmall.Durable())
	if _, err := nc.Subscribe("$JS.API.CONSUMER.INFO.>", func(m *nats.Msg) { _ = m.Respond([]byte(info)) }); err != nil {
		t.Fatal(err)
	}
	type pull struct {
		at  time.Time
		req struct {
			Expires   time.Duration `json:"expires"`
			Heartbeat time.Duration `json:"idle_heartbeat"`
			NoWait    bool          `json:"no_wait"`
		}
	}
	pulls := make(chan pull, 16)
	if _, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT.>", func(m *nats.Msg) {
		p := pull{at: time.Now()}
		if err := json.Unmarshal(m.Data, &p.req); err != nil {
			t.Errorf("pull request %s: %v", m.Data, err)
		}
		pulls <- p
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	w, err := NewWorker(dial(t, srv.ClientURL(), "worker"), events.LaneSmall)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second) // a pull of minutes fails here
	defer cancel()
	msgs, err := w.Fetch(ctx, 8)
	returned := time.Now()
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Fetch = %d messages, %v; want none and no error (it pulls again)", len(msgs), err)
	}
	var long *pull
	for len(pulls) > 0 {
		p := <-pulls
		if !p.req.NoWait {
			long = &p
		}
	}
	switch {
	case long == nil:
		t.Fatal("Fetch made no waiting pull request")
	case long.req.Heartbeat <= 0 || long.req.Heartbeat > time.Second:
		t.Errorf("the waiting pull asks for idle heartbeats every %v, want at most 1s", long.req.Heartbeat)
	case long.req.Expires <= 0 || long.req.Expires > pullExpiry:
		t.Errorf("the waiting pull expires after %v, want at most %v", long.req.Expires, pullExpiry)
	}
	if waited := returned.Sub(long.at); waited >= long.req.Expires {
		t.Errorf("Fetch returned %v after its pull was forgotten: at its expiry, not at the missing heartbeats", waited)
	} else {
		t.Logf("Fetch returned %v after its pull (expiry %v, heartbeat %v)", waited.Round(time.Millisecond), long.req.Expires, long.req.Heartbeat)
	}
}

// startCoreServer starts a NATS server without JetStream.
func startCoreServer(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}
