package api

import (
	"sync"
)

// change is one event a browser or a waiting request may want: requested, progress,
// computed, failed or cancelled, with its JSON payload.
type change struct {
	Kind   string
	Number int64
	Data   []byte
	Seq    uint64 // the event's sequence in the stream: its SSE id
}

// broker fans the changes this replica sees out to SSE streams and waiting GETs. A slow
// subscriber misses changes rather than holding the others up.
type broker struct {
	mu   sync.Mutex
	subs map[chan change]struct{}
}

func newBroker() *broker { return &broker{subs: map[chan change]struct{}{}} }

func (b *broker) subscribe() (<-chan change, func()) {
	ch := make(chan change, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broker) publish(c change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- c:
		default:
		}
	}
}
