package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// Lookup tells a request JetStream still holds from one it has lost, for the reconciler.
//
// Requests have a subject per number (factorial.requested.<lane>.<n>), so the stream can be
// asked for the last request of n, and its sequence compared with the ack floor of the lane's
// consumer: every message at or below the floor is acked; one above it is waiting to be
// delivered, or delivered and not acked (held by a live calculator, or to be delivered again
// when its holder went silent). A request is held when its last message is above the floor.
// It is lost when there is none (a wiped stream, a publish that failed, a message aged out) or
// it is at or below the floor (acked, yet its record is not finished: a consumer recreated
// after it, or a calculator that acked and then lost its work).
//
// The floor is the one exact boundary the consumer reports: a message above it may also have
// been acked out of order, and is then counted held until the floor passes it. That errs on
// the side of not publishing: a healthy backlog of any size causes no publish, and a request
// wrongly counted held is found lost once the messages before it are acked.
type Lookup struct {
	js   jetstream.JetStream
	topo topology

	mu     sync.Mutex
	stream jetstream.Stream
}

// NewLookup looks requests up in the FACTORIAL stream over nc.
func NewLookup(nc *nats.Conn) (*Lookup, error) {
	return newLookup(nc, defaultTopology)
}

func newLookup(nc *nats.Conn, topo topology) (*Lookup, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Lookup{js: js, topo: topo}, nil
}

// Floors is the ack floor (a stream sequence) of each lane's consumer: one answer for a
// whole pass of the reconciler. A missing consumer is an error: until the supervisor has
// recreated it, nothing can be told.
func (l *Lookup) Floors(ctx context.Context) (map[events.Lane]uint64, error) {
	floors := make(map[events.Lane]uint64, len(events.Lanes))
	for _, lane := range events.Lanes {
		c, err := l.js.Consumer(ctx, l.topo.stream, lane.Durable())
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", lane.Durable(), err)
		}
		floors[lane] = c.CachedInfo().AckFloor.Stream
	}
	return floors, nil
}

// Held reports whether JetStream still holds a request for n, given the floors of this
// pass (see Lookup).
func (l *Lookup) Held(ctx context.Context, n int64, floors map[events.Lane]uint64) (bool, error) {
	st, err := l.handle(ctx)
	if err != nil {
		return false, err
	}
	subject := fmt.Sprintf("%s.%s.%d", l.topo.requested, events.LaneOf(n), n)
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			l.forget()
		}
		return false, fmt.Errorf("last request of %d: %w", n, err)
	}
	return msg.Sequence > floors[events.LaneOf(n)], nil
}

func (l *Lookup) handle(ctx context.Context) (jetstream.Stream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream == nil {
		st, err := l.js.Stream(ctx, l.topo.stream)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", l.topo.stream, err)
		}
		l.stream = st
	}
	return l.stream, nil
}

func (l *Lookup) forget() {
	l.mu.Lock()
	l.stream = nil
	l.mu.Unlock()
}
