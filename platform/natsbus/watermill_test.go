package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNewMessage(t *testing.T) {
	t.Parallel()
	m := NewMessage([]byte("p"), "number-5")
	if got := m.Metadata.Get(nats.MsgIdHdr); got != "number-5" {
		t.Errorf("Nats-Msg-Id = %q, want number-5", got)
	}
	if m.UUID == "" || string(m.Payload) != "p" {
		t.Errorf("message %q %q", m.UUID, m.Payload)
	}
	if other := NewMessage([]byte("p"), "number-5"); other.UUID == m.UUID {
		t.Error("two messages share a UUID")
	}
	if _, ok := NewMessage([]byte("p"), "").Metadata[nats.MsgIdHdr]; ok {
		t.Error("an empty msgID still sets Nats-Msg-Id")
	}
}

func TestDelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		metadata string
		want     int
	}{
		{"first delivery", "1", 1},
		{"third delivery", "3", 3},
		{"no count counts as the first", "", 1},
		{"garbage counts as the first", "x", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message.NewMessage("id", nil)
			if tt.metadata != "" {
				m.Metadata.Set(MetadataDelivered, tt.metadata)
			}
			if got := Delivered(m); got != tt.want {
				t.Errorf("Delivered = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPublisherStoresAMessageIDOnce(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		js := provisionBus(t, b, WorkConsumer{AckWait: time.Minute})
		pub := newPublisher(t, b)
		topic := b.subject("requested")

		for _, m := range []*message.Message{
			NewMessage([]byte("first"), "number-1"),
			NewMessage([]byte("second copy"), "number-1"), // dropped: same msgID
			NewMessage([]byte("other"), "number-2"),
			NewMessage([]byte("no id"), ""), // no msgID: both stored
			NewMessage([]byte("no id"), ""),
		} {
			if err := pub.Publish(topic, m); err != nil {
				t.Fatalf("publish %q: %v", m.Payload, err)
			}
		}

		stream, err := js.Stream(t.Context(), b.topo.stream)
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
		if want := []string{"first", "other", "no id", "no id"}; !slices.Equal(got, want) {
			t.Errorf("stream holds %q, want %q", got, want)
		}
	})
}

func newPublisher(t *testing.T, b bus) message.Publisher {
	t.Helper()
	pub, err := NewPublisher(dial(t, b.url, "publisher"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// deliveryLog records what the handlers saw.
type deliveryLog struct {
	mu  sync.Mutex
	all []delivery
}

type delivery struct {
	replica   int
	uuid      string
	payload   string
	subject   string
	delivered int
	start     time.Time
	end       time.Time
}

func (l *deliveryLog) add(d delivery) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d)
	return len(l.all) - 1
}

func (l *deliveryLog) finish(i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all[i].end = time.Now()
}

func (l *deliveryLog) get() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// workers runs a watermill router with one work subscriber per replica, as the calculator
// does, until the end of the test. handle gets the replica number and the message.
type workers struct {
	bus        bus
	replicas   int
	ackWait    time.Duration
	heartbeat  time.Duration // 0: no Heartbeats middleware (the unmarshaler is still used)
	retryDelay time.Duration
	handle     func(replica int, m *message.Message) error
}

func (w workers) start(t *testing.T) (*deliveryLog, jetstream.Consumer) {
	t.Helper()
	js := provisionBus(t, w.bus, WorkConsumer{AckWait: w.ackWait, MaxAckPending: 16})
	log := testLogger(t)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, Logger(log))
	if err != nil {
		t.Fatal(err)
	}
	hb := NewHeartbeats(w.heartbeat)
	if w.heartbeat > 0 {
		router.AddMiddleware(hb.Middleware)
	} else {
		hb = NewHeartbeats(time.Hour) // unmarshaler only: never ticks
	}
	deliveries := &deliveryLog{}
	for i := range w.replicas {
		sub, err := newWorkSubscriber(dial(t, w.bus.url, fmt.Sprintf("consumer-%d", i)), hb, w.retryDelay, log, w.bus.topo)
		if err != nil {
			t.Fatal(err)
		}
		router.AddConsumerHandler(fmt.Sprintf("work-%d", i), w.bus.topo.requested, sub, func(m *message.Message) error {
			n := deliveries.add(delivery{
				replica: i, uuid: m.UUID, payload: string(m.Payload), subject: m.Metadata.Get(MetadataSubject),
				delivered: Delivered(m), start: time.Now(),
			})
			defer deliveries.finish(n)
			return w.handle(i, m)
		})
	}
	runRouter(t, router)
	c, err := js.Consumer(t.Context(), w.bus.topo.stream, w.bus.topo.durable)
	if err != nil {
		t.Fatal(err)
	}
	return deliveries, c
}

// runRouter runs router until the end of the test.
func runRouter(t *testing.T, router *message.Router) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	select {
	case <-router.Running():
	case err := <-done:
		t.Fatalf("router stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("router not running after 5s")
	}
}

// sleep waits d, or less when the delivery's context ends (the router closing).
func sleep(m *message.Message, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-m.Context().Done():
		return m.Context().Err()
	}
}

func consumerInfo(t *testing.T, c jetstream.Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A handler that runs three times the consumer's AckWait, with a second replica idle and
// waiting: with heartbeats the message is delivered once; without (the control run, proving
// the test sees a redelivery when there is one) the idle replica gets it again.
func TestHeartbeatsKeepALongDeliveryAlive(t *testing.T) {
	t.Parallel()
	const (
		ackWait = time.Second
		handler = 3 * time.Second
	)
	tests := []struct {
		name      string
		heartbeat time.Duration
	}{
		{"with heartbeats the message is delivered once", ackWait / 4},
		{"without heartbeats the message is delivered again", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			buses(t, func(t *testing.T, b bus) {
				deliveries, consumer := workers{
					bus: b, replicas: 2, ackWait: ackWait, heartbeat: tt.heartbeat, retryDelay: time.Second,
					handle: func(_ int, m *message.Message) error { return sleep(m, handler) },
				}.start(t)
				sent := NewMessage([]byte(`{"number":1}`), "")
				if err := newPublisher(t, b).Publish(b.topo.requested, sent); err != nil {
					t.Fatal(err)
				}

				if tt.heartbeat == 0 {
					waitFor(t, handler, "no second delivery without heartbeats", func() bool {
						return len(deliveries.get()) >= 2
					})
					d := deliveries.get()
					if d[0].uuid != sent.UUID || d[1].uuid != sent.UUID || d[1].delivered != 2 {
						t.Errorf("deliveries %+v, want the published message twice", d)
					}
					if d[0].replica == d[1].replica {
						t.Errorf("the same replica got both deliveries: %+v", d)
					}
					return
				}

				waitFor(t, 2*handler, "the handler did not finish", func() bool {
					d := deliveries.get()
					return len(d) > 0 && !d[0].end.IsZero()
				})
				waitFor(t, 2*time.Second, "the delivery was not acked", func() bool {
					return consumerInfo(t, consumer).NumAckPending == 0
				})
				d := deliveries.get()
				if len(d) != 1 || d[0].uuid != sent.UUID || d[0].delivered != 1 {
					t.Errorf("deliveries %+v, want the published message once", d)
				}
				if d[0].end.Sub(d[0].start) < handler {
					t.Errorf("handler ran %s, want it to have run %s", d[0].end.Sub(d[0].start), handler)
				}
				info := consumerInfo(t, consumer)
				if info.Delivered.Consumer != 1 || info.NumRedelivered != 0 || info.AckFloor.Consumer != 1 {
					t.Errorf("consumer delivered %d, redelivered %d, ack floor %d: want one delivery, acked",
						info.Delivered.Consumer, info.NumRedelivered, info.AckFloor.Consumer)
				}
			})
		})
	}
}

// A handler error naks the delivery; it comes back after the retry delay (not after the
// AckWait), counted as the second delivery.
func TestWorkSubscriberRedeliversAFailedMessageAfterTheRetryDelay(t *testing.T) {
	t.Parallel()
	const retryDelay = 700 * time.Millisecond
	buses(t, func(t *testing.T, b bus) {
		deliveries, consumer := workers{
			bus: b, replicas: 1, ackWait: time.Minute, heartbeat: 10 * time.Second, retryDelay: retryDelay,
			handle: func(_ int, m *message.Message) error {
				if Delivered(m) == 1 {
					return errors.New("first attempt fails")
				}
				return nil
			},
		}.start(t)
		sent := NewMessage([]byte(`{"number":2}`), "number-2")
		if err := newPublisher(t, b).Publish(b.topo.requested, sent); err != nil {
			t.Fatal(err)
		}

		waitFor(t, 5*time.Second, "no second delivery", func() bool { return len(deliveries.get()) >= 2 })
		waitFor(t, 2*time.Second, "the second delivery was not acked", func() bool {
			return consumerInfo(t, consumer).NumAckPending == 0
		})
		d := deliveries.get()
		if len(d) != 2 || d[0].delivered != 1 || d[1].delivered != 2 {
			t.Fatalf("deliveries %+v, want two, counted 1 and 2", d)
		}
		for _, x := range d {
			if x.uuid != sent.UUID || x.payload != `{"number":2}` || x.subject != b.topo.requested {
				t.Errorf("delivery %+v is not the published message %s", x, sent.UUID)
			}
		}
		if gap := d[1].start.Sub(d[0].end); gap < retryDelay*8/10 {
			t.Errorf("redelivered %s after the failure, want about %s", gap, retryDelay)
		}
		if info := consumerInfo(t, consumer); info.Delivered.Consumer != 2 {
			t.Errorf("consumer delivered %d times, want 2", info.Delivered.Consumer)
		}
	})
}

// Messages published without watermill (no UUID header, or headers watermill cannot read)
// still reach the handler, with a UUID of their own, and heartbeats still find them.
func TestWorkSubscriberHandlesMessagesFromPlainNATS(t *testing.T) {
	t.Parallel()
	const ackWait = time.Second
	buses(t, func(t *testing.T, b bus) {
		deliveries, consumer := workers{
			bus: b, replicas: 2, ackWait: ackWait, heartbeat: ackWait / 4, retryDelay: time.Second,
			handle: func(_ int, m *message.Message) error { return sleep(m, ackWait*17/10) },
		}.start(t)
		nc := dial(t, b.url, "plain")
		js := newJS(t, nc)
		repeated := nats.NewMsg(b.topo.requested)
		repeated.Data = []byte("repeated header")
		repeated.Header.Add("X-Note", "a")
		repeated.Header.Add("X-Note", "b")
		if _, err := js.PublishMsg(t.Context(), repeated); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(t.Context(), b.topo.requested, []byte("no headers")); err != nil {
			t.Fatal(err)
		}

		waitFor(t, 4*ackWait, "not both handled", func() bool {
			return consumerInfo(t, consumer).AckFloor.Stream == 2
		})
		d := deliveries.get()
		var payloads []string
		for _, x := range d {
			payloads = append(payloads, x.payload)
			if x.uuid == "" || x.subject != b.topo.requested || x.delivered != 1 {
				t.Errorf("delivery %+v: want a UUID, the subject and delivery 1", x)
			}
		}
		slices.Sort(payloads)
		if want := []string{"no headers", "repeated header"}; !slices.Equal(payloads, want) {
			t.Errorf("handled %q, want %q once each", payloads, want)
		}
		if len(d) == 2 && d[0].uuid == d[1].uuid {
			t.Errorf("both messages got UUID %s", d[0].uuid)
		}
		if info := consumerInfo(t, consumer); info.Delivered.Consumer != 2 {
			t.Errorf("consumer delivered %d times, want 2 (heartbeats lost a message?)", info.Delivered.Consumer)
		}
	})
}

// fanout is one API replica following the stream.
type fanout struct {
	mu  sync.Mutex
	got []delivery
}

func follow(t *testing.T, url string, topo topology, topic string) *fanout {
	t.Helper()
	sub, err := newFanoutSubscriber(dial(t, url, "fanout"), testLogger(t), topo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f := &fanout{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range msgs {
			f.mu.Lock()
			f.got = append(f.got, delivery{uuid: m.UUID, payload: string(m.Payload), subject: m.Metadata.Get(MetadataSubject)})
			f.mu.Unlock()
			m.Ack()
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := sub.Close(); err != nil {
			t.Errorf("close fan-out subscriber: %v", err)
		}
		<-done
	})
	return f
}

func (f *fanout) deliveries() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *fanout) payloads() []string {
	var p []string
	for _, d := range f.deliveries() {
		p = append(p, d.payload)
	}
	return p
}

func (f *fanout) waitFor(t *testing.T, d time.Duration, want ...string) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("want %q", want), func() bool { return len(f.payloads()) >= len(want) })
	if got := f.payloads(); !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func TestFanoutSubscriberGivesEveryReplicaEveryNewEvent(t *testing.T) {
	t.Parallel()
	buses(t, func(t *testing.T, b bus) {
		provisionBus(t, b, WorkConsumer{AckWait: time.Minute})
		pub := newPublisher(t, b)
		computed := b.subject("computed")
		if err := pub.Publish(computed, NewMessage([]byte("before"), "")); err != nil {
			t.Fatal(err)
		}

		replicas := []*fanout{follow(t, b.url, b.topo, computed), follow(t, b.url, b.topo, computed)}
		for _, m := range []struct{ subject, payload string }{
			{b.subject("requested"), "other subject"},
			{computed, "c1"},
			{b.subject("progress"), "other subject"},
			{computed, "c2"},
		} {
			if err := pub.Publish(m.subject, NewMessage([]byte(m.payload), "")); err != nil {
				t.Fatal(err)
			}
		}
		for i, r := range replicas {
			r.waitFor(t, 5*time.Second, "c1", "c2")
			for _, d := range r.deliveries() {
				if d.subject != computed || d.uuid == "" {
					t.Errorf("replica %d: delivery %+v, want subject %s and a UUID", i, d, computed)
				}
			}
		}
	})
}

// After the embedded server restarts (same store and port), the clients reconnect and the
// ordered consumers are recreated where they stopped: events published afterwards arrive,
// even those published before the subscribers' connections are back, and even at a replica
// that had received nothing yet.
func TestFanoutSubscriberFollowsAcrossAServerRestart(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	e, err := StartEmbedded(dir, addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: the subscribers close while the server is up.
	t.Cleanup(func() { e.Shutdown() })
	b := bus{url: e.serviceURL(), topo: defaultTopology}
	provisionBus(t, b, WorkConsumer{AckWait: time.Minute})
	pubConn := dial(t, b.url, "publisher")
	pub, err := NewPublisher(pubConn, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	computed, failed := b.subject("computed"), b.subject("failed")
	seen := []*fanout{follow(t, b.url, b.topo, computed), follow(t, b.url, b.topo, computed)}
	fresh := follow(t, b.url, b.topo, failed) // nothing to see before the restart
	if err := pub.Publish(computed, NewMessage([]byte("c1"), "")); err != nil {
		t.Fatal(err)
	}
	for _, r := range seen {
		r.waitFor(t, 5*time.Second, "c1")
	}

	e.Shutdown()
	if e, err = StartEmbedded(dir, addr, testLogger(t)); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// At once, on a new connection: the subscribers' connections are still waiting to
	// reconnect.
	early, err := NewPublisher(dial(t, b.url, "early-publisher"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ subject, payload string }{{computed, "c2"}, {failed, "f1"}} {
		if err := early.Publish(m.subject, NewMessage([]byte(m.payload), "")); err != nil {
			t.Fatalf("publish after restart: %v", err)
		}
	}
	for _, r := range seen {
		r.waitFor(t, 10*time.Second, "c1", "c2")
	}
	fresh.waitFor(t, 5*time.Second, "f1")

	// The first publisher's connection is back too.
	waitFor(t, 5*time.Second, "the publisher did not reconnect", func() bool {
		return pubConn.Stats().Reconnects > 0 && pubConn.IsConnected()
	})
	for _, m := range []struct{ subject, payload string }{{computed, "c3"}, {failed, "f2"}} {
		if err := pub.Publish(m.subject, NewMessage([]byte(m.payload), "")); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range seen {
		r.waitFor(t, 5*time.Second, "c1", "c2", "c3")
	}
	fresh.waitFor(t, 5*time.Second, "f1", "f2")
}
