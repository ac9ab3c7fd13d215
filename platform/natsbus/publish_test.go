package natsbus

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func newPublisher(t *testing.T, url string) *Publisher {
	t.Helper()
	p, err := NewPublisher(dial(t, url, "publisher"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// streamPayloads lists what the stream holds, oldest first.
func streamPayloads(t *testing.T, p *Publisher, b bus) []string {
	t.Helper()
	stream, err := p.JetStream().Stream(t.Context(), b.topo.stream)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(1); seq <= stream.CachedInfo().State.LastSeq; seq++ {
		msg, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		got = append(got, string(msg.Data))
	}
	return got
}

func TestPublisherStoresAMessageIDOnce(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		provisionBus(t, b, lanes(time.Minute, 8))
		pub := newPublisher(t, b.url)
		subject := b.requestSubject(1)
		for _, m := range []Msg{
			{Subject: subject, Data: []byte("first"), ID: "number-1"},
			{Subject: subject, Data: []byte("second copy"), ID: "number-1"}, // dropped: same id
			{Subject: subject, Data: []byte("other"), ID: "number-2"},
			{Subject: subject, Data: []byte("no id")}, // no id: both stored
			{Subject: subject, Data: []byte("no id"), Header: nats.Header{"X-Note": []string{"a"}}},
		} {
			if err := pub.Publish(t.Context(), m); err != nil {
				t.Fatalf("publish %q: %v", m.Data, err)
			}
		}
		if got, want := streamPayloads(t, pub, b), []string{"first", "other", "no id", "no id"}; !slices.Equal(got, want) {
			t.Errorf("stream holds %q, want %q", got, want)
		}
	})
}

// PublishAll sends a batch and reports each message: all stored, in order, duplicates
// dropped by id, and a subject outside the stream reported as not stored.
func TestPublishAllReportsEachMessage(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		provisionBus(t, b, lanes(time.Minute, 8))
		pub := newPublisher(t, b.url)
		var msgs []Msg
		var want []string
		for i := range 300 {
			data := fmt.Sprintf("m%d", i)
			msgs = append(msgs, Msg{Subject: b.requestSubject(int64(i)), Data: []byte(data), ID: data})
			want = append(want, data)
		}
		msgs = append(msgs, Msg{Subject: b.requestSubject(1), Data: []byte("dup"), ID: "m1"})
		msgs = append(msgs, Msg{Subject: "nowhere." + b.topo.stream, Data: []byte("lost")})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		errs, failed := pub.PublishAll(ctx, msgs)
		if failed != 1 || errs[len(errs)-1] == nil || FirstError(errs) != errs[len(errs)-1] {
			t.Fatalf("%d failed (%v), want only the message outside the stream", failed, FirstError(errs))
		}
		if got := streamPayloads(t, pub, b); !slices.Equal(got, want) {
			t.Errorf("stream holds %d messages, want the %d distinct ones in order", len(got), len(want))
		}
	})
}

// With the server gone, PublishAll gives up when its context ends, however long NATS takes
// to come back: the caller's deadline is what counts.
func TestPublishAllKeepsTheCallersDeadline(t *testing.T) {
	t.Parallel()
	e := startEmbedded(t, t.TempDir(), freeAddr(t))
	b := bus{url: e.serviceURL(), topo: defaultTopology}
	provisionBus(t, b, lanes(time.Minute, 8))
	pub := newPublisher(t, b.url)
	e.Shutdown()

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	errs, failed := pub.PublishAll(ctx, []Msg{{Subject: b.requestSubject(1), Data: []byte("x")}, {Subject: b.requestSubject(2), Data: []byte("y")}})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("PublishAll took %v with a 300ms deadline", took)
	}
	if failed != 2 {
		t.Errorf("%d failed (%v), want both", failed, errs)
	}
	start = time.Now()
	if err := pub.Publish(ctx, Msg{Subject: b.requestSubject(3), Data: []byte("z")}); err == nil {
		t.Error("Publish with NATS down succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Publish took %v after its deadline", took)
	}
}
