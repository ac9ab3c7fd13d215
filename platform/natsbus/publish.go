package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one message to publish.
type Msg struct {
	Subject string
	Data    []byte
	// ID becomes the Nats-Msg-Id header: JetStream stores a second message with the same id,
	// published inside the stream's duplicate window, only once.
	ID     string
	Header nats.Header // more headers, or nil
}

func (m Msg) nats() *nats.Msg {
	msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
	for k, v := range m.Header {
		msg.Header[k] = v
	}
	if m.ID != "" {
		msg.Header.Set(nats.MsgIdHdr, m.ID)
	}
	return msg
}

// Publisher publishes to JetStream under the caller's deadline.
type Publisher struct {
	js jetstream.JetStream
}

// maxAsyncPending bounds the publishes awaiting their ack on one connection; beyond it
// PublishAll waits briefly, then reports the rest as failed.
const maxAsyncPending = 4096

// asyncAckTimeout is how long nats.go keeps an async publish waiting for its ack, whatever
// the caller does: it bounds what an unanswered publish holds.
const asyncAckTimeout = 30 * time.Second

// NewPublisher publishes over nc.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{js: js}, nil
}

// JetStream is the JetStream context of the publisher's connection, for the requests that
// are not publishes (provisioning, looking messages up).
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

// Publish stores m in the stream, returning once JetStream has acknowledged it or ctx ends.
func (p *Publisher) Publish(ctx context.Context, m Msg) error {
	if _, err := p.js.PublishMsg(ctx, m.nats()); err != nil {
		return fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	return nil
}

// PublishAll sends every message at once and waits for their acknowledgements together,
// until all are in or ctx ends. errs[i] is nil when msgs[i] is stored; failed counts the
// others. A message whose ack did not come in time may still be stored later (NATS was
// reconnecting): callers treat a failure as "not known to be stored".
func (p *Publisher) PublishAll(ctx context.Context, msgs []Msg) (errs []error, failed int) {
	errs = make([]error, len(msgs))
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		f, err := p.js.PublishMsgAsync(m.nats())
		if err != nil {
			errs[i] = fmt.Errorf("publish %s: %w", m.Subject, err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("publish %s: %w", msgs[i].Subject, err)
		case <-ctx.Done():
			errs[i] = fmt.Errorf("publish %s: %w", msgs[i].Subject, ctx.Err())
		}
	}
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	return errs, failed
}

// FirstError is the first non-nil error of errs.
func FirstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
