package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the subscribers add to each message.
const (
	MetadataDelivered = "jetstream_delivered" // JetStream's delivery count
	MetadataSubject   = "jetstream_subject"   // the subject it was published on
)

// Logger adapts slog for watermill, demoting its per-message Info chatter to Debug.
func Logger(log *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// NewPublisher publishes watermill messages to JetStream, returning once the stream has
// acknowledged each one (so a nil error means the message is stored).
func NewPublisher(nc *nats.Conn, log *slog.Logger) (message.Publisher, error) {
	p, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: nc, Logger: Logger(log)})
	if err != nil {
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	return p, nil
}

// NewMessage builds a message whose msgID becomes its Nats-Msg-Id, so JetStream drops a
// second copy published inside the stream's duplicate window.
func NewMessage(payload []byte, msgID string) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), payload)
	if msgID != "" {
		m.Metadata.Set(nats.MsgIdHdr, msgID)
	}
	return m
}

// Heartbeats keeps long deliveries alive. JetStream redelivers a message that goes AckWait
// without an ack, which is what we want when a calculator dies, but not while it is still
// computing. Watermill hides the raw JetStream message, so Heartbeats is both the
// subscriber's unmarshaler (remembering each raw message by UUID) and a router middleware
// that sends InProgress for it on a ticker until the handler returns.
type Heartbeats struct {
	every time.Duration
	raw   sync.Map // message UUID -> jetstream.Msg
}

// NewHeartbeats sends a heartbeat every interval; keep it well under the consumer's AckWait.
func NewHeartbeats(every time.Duration) *Heartbeats { return &Heartbeats{every: every} }

// Unmarshal implements wmjs.Unmarshaler and remembers the raw message.
func (h *Heartbeats) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m, _ := unmarshaler{}.Unmarshal(msg)
	h.raw.Store(m.UUID, msg)
	return m, nil
}

// Middleware sends InProgress for the message being handled until the handler returns, and
// naks a message whose handling was cut off by shutdown.
func (h *Heartbeats) Middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		v, ok := h.raw.LoadAndDelete(m.UUID)
		if !ok {
			return next(m)
		}
		raw := v.(jetstream.Msg)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(h.every)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					_ = raw.InProgress()
				}
			}
		})
		msgs, err := next(m)
		close(done)
		wg.Wait()
		if err != nil && m.Context().Err() != nil {
			// The subscriber is closing, and watermill drops a nack it gets then: nak here so
			// another replica (or this one after a restart) takes the message in a second
			// instead of after AckWait. The delay keeps it from going straight back to this
			// subscriber's last pull request, which is being drained.
			_ = raw.NakWithDelay(time.Second)
		}
		return msgs, err
	}
}

// Delivered is how many times JetStream has delivered m (1 on the first delivery).
func Delivered(m *message.Message) int {
	n, _ := strconv.Atoi(m.Metadata.Get(MetadataDelivered))
	return max(n, 1)
}

// NewWorkSubscriber reads factorial.requested through the calculators' shared durable
// consumer, one message at a time per subscription: messages waiting in a client buffer would
// age without heartbeats and come back as duplicates.
func NewWorkSubscriber(nc *nats.Conn, hb *Heartbeats, retryDelay time.Duration, log *slog.Logger) (message.Subscriber, error) {
	return newWorkSubscriber(nc, hb, retryDelay, log, defaultTopology)
}

func newWorkSubscriber(nc *nats.Conn, hb *Heartbeats, retryDelay time.Duration, log *slog.Logger, topo topology) (message.Subscriber, error) {
	s, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:   nc,
		Logger: Logger(log),
		// Watermill's own ack timer would drop the delivery silently while the handler runs
		// on; JetStream's AckWait plus heartbeats is the timeout that counts.
		AckWaitTimeout: 24 * time.Hour,
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, _ string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			c, err := js.Consumer(ctx, topo.stream, topo.durable)
			return c, nil, err
		},
		ConsumeOptions: []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(1)},
		NakDelay:       wmjs.NewStaticDelay(retryDelay),
		Unmarshaler:    hb,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream work subscriber: %w", err)
	}
	return s, nil
}

// NewFanoutSubscriber delivers every new event on the stream to this process: an ordered
// consumer, which nats.go recreates by itself after a NATS restart. Each API replica has its
// own, so every replica sees every factorial.computed.
//
// "New" is counted from the stream's last sequence at Subscribe, not with DeliverNewPolicy:
// nats.go recreates an ordered consumer that has not delivered anything yet with its
// original policy, and "new" at that moment would skip what was published while it was
// disconnected.
func NewFanoutSubscriber(nc *nats.Conn, log *slog.Logger) (message.Subscriber, error) {
	return newFanoutSubscriber(nc, log, defaultTopology)
}

func newFanoutSubscriber(nc *nats.Conn, log *slog.Logger, topo topology) (message.Subscriber, error) {
	s, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:   nc,
		Logger: Logger(log),
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			stream, err := js.Stream(ctx, topo.stream)
			if err != nil {
				return nil, nil, fmt.Errorf("stream %s: %w", topo.stream, err)
			}
			c, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{topic},
				DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:    stream.CachedInfo().State.LastSeq + 1,
			})
			return c, nil, err
		},
		AckAsync:    true, // ordered consumers need no acks; don't wait for replies that never come
		Unmarshaler: unmarshaler{},
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream fan-out subscriber: %w", err)
	}
	return s, nil
}

// unmarshaler never fails: watermill's subscriber panics on a nil message, so a message it
// cannot read fully (repeated headers, say) is passed on with its payload, and the handler
// decides what to do with it. It also records JetStream's delivery count.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m, err := wmjs.DefaultUnmarshaler{}.Unmarshal(msg)
	if err != nil || m == nil {
		m = message.NewMessage("", msg.Data())
	}
	if m.UUID == "" {
		m.UUID = watermill.NewUUID() // published by someone other than watermill
	}
	m.Metadata.Set(MetadataSubject, msg.Subject())
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(MetadataDelivered, strconv.FormatUint(md.NumDelivered, 10))
	}
	return m, nil
}
