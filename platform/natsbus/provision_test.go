package natsbus

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// The exported Provision, on the names the services use. On the shared server the same code
// runs through provision with names of its own (TestProvisionContract): a test must not
// create, change or delete a FACTORIAL stream that another run may be using.
func TestProvisionUsesTheFactorialNames(t *testing.T) {
	t.Parallel()
	js := newJS(t, dial(t, startServer(t).ClientURL(), "provision"))
	if err := Provision(t.Context(), js, WorkConsumer{AckWait: 42 * time.Second, MaxAckPending: 3}); err != nil {
		t.Fatal(err)
	}
	checkProvisioned(t, js, defaultTopology, 42*time.Second, 3)
	if defaultTopology.stream != events.Stream || defaultTopology.subjects != events.SubjectAll ||
		defaultTopology.requested != events.SubjectRequested || defaultTopology.durable != events.CalculatorDurable {
		t.Errorf("defaultTopology %+v does not use the names of package events", defaultTopology)
	}
}

func TestProvisionContract(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js := newJS(t, dial(t, b.url, "provision"))

		t.Run("creates the stream and the work consumer", func(t *testing.T) {
			if err := provision(t.Context(), js, b.topo, WorkConsumer{AckWait: 30 * time.Second, MaxAckPending: 5}); err != nil {
				t.Fatal(err)
			}
			checkProvisioned(t, js, b.topo, 30*time.Second, 5)
		})

		// A message in the stream shows a second run neither recreates nor purges it.
		ack, err := js.Publish(t.Context(), b.subject("requested"), []byte("kept"))
		if err != nil {
			t.Fatal(err)
		}

		t.Run("a second identical run changes nothing", func(t *testing.T) {
			if err := provision(t.Context(), js, b.topo, WorkConsumer{AckWait: 30 * time.Second, MaxAckPending: 5}); err != nil {
				t.Fatalf("second run: %v", err)
			}
			checkProvisioned(t, js, b.topo, 30*time.Second, 5)
			checkKept(t, js, b.topo, ack.Sequence)
		})

		t.Run("a new AckWait updates the consumer", func(t *testing.T) {
			if err := provision(t.Context(), js, b.topo, WorkConsumer{AckWait: 90 * time.Second, MaxAckPending: 5}); err != nil {
				t.Fatalf("run with a new AckWait: %v", err)
			}
			checkProvisioned(t, js, b.topo, 90*time.Second, 5)
			checkKept(t, js, b.topo, ack.Sequence)
		})
	})
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

	names := stream.ConsumerNames(t.Context())
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, []string{topo.durable}) {
		t.Errorf("consumers %v, want just %s", all, topo.durable)
	}
	c, err := stream.Consumer(t.Context(), topo.durable)
	if err != nil {
		t.Fatalf("consumer %s: %v", topo.durable, err)
	}
	cc := c.CachedInfo().Config
	if cc.Durable != topo.durable {
		t.Errorf("consumer is not durable: %+v", cc)
	}
	if cc.FilterSubject != topo.requested {
		t.Errorf("consumer filter %q, want %q", cc.FilterSubject, topo.requested)
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

func checkKept(t *testing.T, js jetstream.JetStream, topo topology, seq uint64) {
	t.Helper()
	stream, err := js.Stream(t.Context(), topo.stream)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.GetMsg(t.Context(), seq); err != nil || string(msg.Data) != "kept" {
		t.Errorf("message %d after provisioning again: %v", seq, err)
	}
	c, err := stream.Consumer(t.Context(), topo.durable)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.CachedInfo().NumPending; n != 1 {
		t.Errorf("consumer has %d messages pending, want 1 (was it recreated?)", n)
	}
}
