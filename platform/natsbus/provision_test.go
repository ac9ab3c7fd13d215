package natsbus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// The exported Provision, on the names the services use. On the shared server the same code
// runs with names of its own (TestProvisionContract): a test must not create, change or
// delete a FACTORIAL stream that another run may be using.
func TestProvisionUsesTheFactorialNames(t *testing.T) {
	t.Parallel()
	js := newJS(t, dial(t, startServer(t).ClientURL(), "provision"))
	// The consumer of the first version, which the calculators remove.
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: events.Stream, Subjects: []string{events.SubjectAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(t.Context(), events.Stream, jetstream.ConsumerConfig{
		Durable: "calculator", FilterSubject: "factorial.requested", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if err := Provision(t.Context(), js, lanes(42*time.Second, 3)); err != nil {
		t.Fatal(err)
	}
	checkProvisioned(t, js, defaultTopology, 42*time.Second, 3)
	if defaultTopology.stream != events.Stream || defaultTopology.subjects != events.SubjectAll ||
		defaultTopology.filter(events.LaneSmall) != events.LaneSmall.Filter() ||
		defaultTopology.filter(events.LaneLarge) != events.LaneLarge.Filter() {
		t.Errorf("defaultTopology %+v does not use the names of package events", defaultTopology)
	}
}

func TestProvisionContract(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js := newJS(t, dial(t, b.url, "provision"))
		sup := newSupervisor(js, b.topo, lanes(30*time.Second, 5), testLogger(t), time.Second)

		t.Run("creates the stream and the lane consumers", func(t *testing.T) {
			if err := sup.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkProvisioned(t, js, b.topo, 30*time.Second, 5)
			if err := sup.Ready(t.Context()); err != nil {
				t.Errorf("Ready after a good check: %v", err)
			}
			select {
			case <-sup.Provisioned():
			default:
				t.Error("Provisioned not closed after a good check")
			}
		})

		// A message in the stream shows a second run neither recreates nor purges it.
		ack, err := js.Publish(t.Context(), b.requestSubject(5), []byte("kept"))
		if err != nil {
			t.Fatal(err)
		}

		t.Run("a second identical run changes nothing", func(t *testing.T) {
			again := newSupervisor(js, b.topo, lanes(30*time.Second, 5), testLogger(t), time.Second)
			if err := again.Check(t.Context()); err != nil {
				t.Fatalf("second run: %v", err)
			}
			checkProvisioned(t, js, b.topo, 30*time.Second, 5)
			checkKept(t, js, b.topo, ack.Sequence)
		})

		t.Run("a new AckWait updates the consumers", func(t *testing.T) {
			again := newSupervisor(js, b.topo, lanes(90*time.Second, 5), testLogger(t), time.Second)
			if err := again.Check(t.Context()); err != nil {
				t.Fatalf("run with a new AckWait: %v", err)
			}
			checkProvisioned(t, js, b.topo, 90*time.Second, 5)
			checkKept(t, js, b.topo, ack.Sequence)
		})

		t.Run("a process without consumers never changes them", func(t *testing.T) {
			api := newSupervisor(js, b.topo, Layout{Replicas: 1}, testLogger(t), time.Second)
			if err := api.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkProvisioned(t, js, b.topo, 90*time.Second, 5)
		})
	})
}

// A stream or a consumer that disappears while the services run is recreated by the next
// check; a recreated consumer starts just after what its predecessor had acked, neither
// replaying the stream nor skipping what came meanwhile.
func TestSupervisorRecreatesWhatVanished(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js, sup := provisionBus(t, b, lanes(time.Minute, 16))
		for n := range int64(4) {
			if _, err := js.Publish(t.Context(), b.requestSubject(n), []byte("request")); err != nil {
				t.Fatal(err)
			}
		}
		w, err := newWorker(dial(t, b.url, "worker"), b.topo, events.LaneSmall)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for len(msgs) < 2 { // a no-wait fetch may see the last publishes a moment late
			got, err := w.Fetch(t.Context(), 2-len(msgs))
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			msgs = append(msgs, got...)
		}
		for _, m := range msgs {
			if err := m.DoubleAck(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if err := sup.Check(t.Context()); err != nil { // sees the ack floor at 2
			t.Fatal(err)
		}

		if err := js.DeleteConsumer(t.Context(), b.topo.stream, events.LaneSmall.Durable()); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(t.Context(), b.requestSubject(4), []byte("request")); err != nil {
			t.Fatal(err)
		}
		recheck(t, sup, "check after the consumer was deleted")
		c, err := js.Consumer(t.Context(), b.topo.stream, events.LaneSmall.Durable())
		if err != nil {
			t.Fatalf("the consumer was not recreated: %v", err)
		}
		if info := c.CachedInfo(); info.NumPending != 3 || info.Config.OptStartSeq != 3 {
			t.Errorf("recreated consumer starts at %d with %d pending, want 3 and 3 (the unacked and the new)",
				info.Config.OptStartSeq, info.NumPending)
		}

		if err := js.DeleteStream(t.Context(), b.topo.stream); err != nil {
			t.Fatal(err)
		}
		recheck(t, sup, "check after the stream was deleted")
		checkProvisioned(t, js, b.topo, time.Minute, 16)
		ack, err := js.Publish(t.Context(), b.requestSubject(9), []byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Sequence != 1 {
			t.Errorf("the first message on the new stream has sequence %d, want 1", ack.Sequence)
		}
		// The server counts a consumer's pending messages as the stream tells it of them, a
		// moment after the publish is acknowledged: ask until it has.
		c, err = js.Consumer(t.Context(), b.topo.stream, events.LaneSmall.Durable())
		if err != nil {
			t.Fatal(err)
		}
		var pending uint64
		waitFor(t, 5*time.Second, "the new consumer does not count the new message as pending", func() bool {
			info, err := c.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pending = info.NumPending
			return pending >= 1
		})
		if pending != 1 {
			t.Errorf("on the new stream: %d pending, want the one new message", pending)
		}
	})
}

// The API's supervisor creates a missing stream but never a consumer: it reports the one
// that is missing, by name, and nothing internal.
func TestSupervisorWithoutConsumersReportsThem(t *testing.T) {
	t.Parallel()
	b := bus{url: startServer(t).ClientURL(), topo: defaultTopology}
	js := newJS(t, dial(t, b.url, "api"))
	api := newSupervisor(js, b.topo, Layout{Replicas: 1}, testLogger(t), time.Second)
	if err := api.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "not checked yet") {
		t.Errorf("Ready before any check = %v", err)
	}
	err := api.Check(t.Context())
	if err == nil || err.Error() != "consumer calculator-small: missing" {
		t.Fatalf("check = %v, want the small lane's consumer missing", err)
	}
	if err := api.Ready(t.Context()); err == nil || err.Error() != "consumer calculator-small: missing" {
		t.Errorf("Ready = %v", err)
	}
	if _, err := js.Stream(t.Context(), events.Stream); err != nil {
		t.Errorf("the API did not create the stream: %v", err)
	}
	if _, err := js.Consumer(t.Context(), events.Stream, events.LaneSmall.Durable()); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("the API created a consumer: %v", err)
	}
	if err := Provision(t.Context(), js, lanes(time.Minute, 4)); err != nil {
		t.Fatal(err)
	}
	if err := api.Check(t.Context()); err != nil {
		t.Errorf("check once the calculators provisioned: %v", err)
	}
}

// With NATS gone, Ready turns to an error naming the stream within a few check periods, and
// back to nil when it returns.
func TestSupervisorReadinessFollowsNATS(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	e := startEmbedded(t, dir, addr)
	nc := dial(t, e.serviceURL(), "supervisor")
	sup := newSupervisor(newJS(t, nc), defaultTopology, lanes(time.Minute, 4), testLogger(t), 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "never ready", func() bool { return sup.Ready(t.Context()) == nil })

	e.Shutdown()
	waitFor(t, 10*time.Second, "still ready with NATS down", func() bool { return sup.Ready(t.Context()) != nil })
	if err := sup.Ready(t.Context()); !strings.HasPrefix(err.Error(), "stream FACTORIAL: ") {
		t.Errorf("Ready = %q, want it to name the stream", err)
	}
	startEmbedded(t, dir, addr)
	waitFor(t, 15*time.Second, "not ready again after NATS came back", func() bool { return sup.Ready(t.Context()) == nil })
}

func checkProvisioned(t *testing.T, js jetstream.JetStream, topo topology, ackWait time.Duration, maxAckPending int) {
	t.Helper()
	stream, err := js.Stream(t.Context(), topo.stream)
	if err != nil {
		t.Fatalf("stream %s: %v", topo.stream, err)
	}
	sc := stream.CachedInfo().Config
	if !slices.Equal(sc.Subjects, []string{topo.subjects}) {
		t.Errorf("stream subjects %v, want [%s]", sc.Subjects, topo.subjects)
	}
	if sc.Storage != jetstream.FileStorage {
		t.Errorf("stream storage %v, want file", sc.Storage)
	}
	if sc.Retention != jetstream.LimitsPolicy {
		t.Errorf("stream retention %v, want limits", sc.Retention)
	}
	if sc.Duplicates != duplicateWindow {
		t.Errorf("stream duplicate window %s, want %s", sc.Duplicates, duplicateWindow)
	}
	if sc.MaxAge != streamMaxAge {
		t.Errorf("stream max age %s, want %s", sc.MaxAge, streamMaxAge)
	}
	if sc.Replicas != 1 || !sc.AllowDirect {
		t.Errorf("stream replicas %d, allow direct %v: want 1 and true", sc.Replicas, sc.AllowDirect)
	}

	names := stream.ConsumerNames(t.Context())
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	if want := []string{"calculator-large", "calculator-small"}; !slices.Equal(all, want) {
		t.Errorf("consumers %v, want %v", all, want)
	}
	for _, lane := range events.Lanes {
		c, err := stream.Consumer(t.Context(), lane.Durable())
		if err != nil {
			t.Fatalf("consumer %s: %v", lane.Durable(), err)
		}
		cc := c.CachedInfo().Config
		if cc.Durable != lane.Durable() {
			t.Errorf("consumer is not durable: %+v", cc)
		}
		if cc.FilterSubject != topo.filter(lane) {
			t.Errorf("consumer filter %q, want %q", cc.FilterSubject, topo.filter(lane))
		}
		if cc.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("consumer ack policy %v, want explicit", cc.AckPolicy)
		}
		if cc.AckWait != ackWait {
			t.Errorf("consumer AckWait %s, want %s", cc.AckWait, ackWait)
		}
		if cc.MaxAckPending != maxAckPending {
			t.Errorf("consumer MaxAckPending %d, want %d", cc.MaxAckPending, maxAckPending)
		}
		if cc.DeliverPolicy != jetstream.DeliverAllPolicy {
			t.Errorf("consumer deliver policy %v, want all", cc.DeliverPolicy)
		}
	}
}

func checkKept(t *testing.T, js jetstream.JetStream, topo topology, seq uint64) {
	t.Helper()
	stream, err := js.Stream(t.Context(), topo.stream)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.GetMsg(t.Context(), seq); err != nil || string(msg.Data) != "kept" {
		t.Errorf("message %d after provisioning again: %v", seq, err)
	}
	c, err := stream.Consumer(t.Context(), events.LaneSmall.Durable())
	if err != nil {
		t.Fatal(err)
	}
	// JetStream counts a consumer's pending messages a moment after it stored them: ask
	// until the message published just before is counted.
	var pending uint64
	waitFor(t, 5*time.Second, "the consumer does not count the message kept as pending", func() bool {
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pending = info.NumPending
		return pending >= 1
	})
	if pending != 1 {
		t.Errorf("consumer has %d messages pending, want 1 (was it recreated?)", pending)
	}
}
