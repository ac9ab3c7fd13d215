package api

import (
	"sync"

	"github.com/factorial-service/factorial/events"
)

// change is one event a browser or a waiting request may want: requested, progress,
// computed, failed or cancelled, with its JSON payload.
type change struct {
	Kind   string
	Number int64
	Data   []byte
	Seq    uint64 // the event's sequence in the stream: its SSE id
	// digits is the factorial.computed whose Data still carries its digits; forStreams
	// leaves them out.
	digits *events.Computed
}

// forStreams is c as SSE streams get it: a factorial.computed without its digits. Encoding
// it costs as much as the digits are long, so it is done only for a change a stream takes.
func (c change) forStreams() change {
	if c.digits == nil {
		return c
	}
	short := *c.digits
	short.Text = ""
	if data, err := events.Encode(short); err == nil {
		c.Data = data
	} else {
		c.Data = []byte("{}") // cannot be: it was just decoded
	}
	c.digits = nil
	return c
}

// broker fans the changes this replica sees out to SSE streams (every change) and to waiting
// GETs (the changes of their own number only). A slow SSE stream misses changes rather than
// holding the others up. A waiter gets only its number's few changes, so under any load it
// misses none: were it sent every change, as SSE streams are, thousands a second would fill
// its buffer and drop the one it waits for, holding it to the end of its wait.
//
// The broker also keeps the sequence of the last change published, which a new SSE stream
// opens with as its id: it is read under the same lock as the subscription is made, so every
// change after it reaches the subscriber and none up to it does. Read apart (before or after
// subscribing), a change published in between is either announced by the id and then skipped
// as already seen, or sent under an id the client was told it stood past.
type broker struct {
	mu       sync.Mutex
	subs     map[chan change]struct{}
	watchers map[int64]map[chan change]struct{}
	last     uint64 // the stream sequence of the last change published
}

func newBroker() *broker {
	return &broker{subs: map[chan change]struct{}{}, watchers: map[int64]map[chan change]struct{}{}}
}

// subscribe returns every change from now on, until the returned function is called, and
// the sequence of the last change published before (0 when none was): the changes it returns
// are exactly those after it.
func (b *broker) subscribe() (<-chan change, uint64, func()) {
	ch := make(chan change, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	last := b.last
	b.mu.Unlock()
	return ch, last, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// watch returns the changes of n from now on, until the returned function is called.
func (b *broker) watch(n int64) (<-chan change, func()) {
	ch := make(chan change, 8)
	b.mu.Lock()
	w := b.watchers[n]
	if w == nil {
		w = map[chan change]struct{}{}
		b.watchers[n] = w
	}
	w[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(w, ch)
		if len(w) == 0 {
			delete(b.watchers, n)
		}
		b.mu.Unlock()
	}
}

func (b *broker) publish(c change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.Seq != 0 {
		b.last = c.Seq // the follower's order; back to 1 when the stream was recreated
	}
	if len(b.subs) > 0 {
		c = c.forStreams()
	}
	for ch := range b.subs {
		select {
		case ch <- c:
		default:
		}
	}
	for ch := range b.watchers[c.Number] {
		select {
		case ch <- c:
		default: // only progress can fill it; what ends a wait comes last
		}
	}
}
