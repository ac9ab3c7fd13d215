package api

import (
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/events"
)

// A waiter gets the changes of its own number, however many others go by: one waiting for
// 7 sees 7's computed even after thousands of changes of other numbers it never drained.
func TestBrokerWatchersSeeTheirOwnNumber(t *testing.T) {
	b := newBroker()
	seven, stop := b.watch(7)
	defer stop()
	all, _, stopAll := b.subscribe()
	defer stopAll()
	for n := range int64(5000) {
		if n != 7 {
			b.publish(change{Kind: kindComputed, Number: n})
		}
	}
	b.publish(change{Kind: kindProgress, Number: 7})
	b.publish(change{Kind: kindComputed, Number: 7})
	if got := <-seven; got.Kind != kindProgress {
		t.Fatalf("first change of 7: %+v", got)
	}
	if got := <-seven; got.Kind != kindComputed || got.Number != 7 {
		t.Fatalf("second change of 7: %+v", got)
	}
	if len(all) != cap(all) {
		t.Errorf("the SSE subscriber's buffer holds %d, want it full (%d)", len(all), cap(all))
	}
	stop()
	b.publish(change{Kind: kindComputed, Number: 7})
	if len(b.watchers) != 0 {
		t.Errorf("watchers left after stop: %v", b.watchers)
	}
}

// SSE streams get a factorial.computed without its digits, whether it reaches them live or
// replayed; the digits are left in place (not re-encoded) when no stream is there to take it.
func TestStreamsGetComputedWithoutDigits(t *testing.T) {
	c := events.Computed{Number: 5, Status: events.StatusDone, Checksum: "c5", Size: 3, Digits: 3,
		ComputedAt: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Text: "120"}
	data, err := events.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	ch := change{Kind: kindComputed, Number: 5, Data: data, digits: &c}
	if got := ch.forStreams(); strings.Contains(string(got.Data), `"text"`) || !strings.Contains(string(got.Data), `"checksum":"c5"`) {
		t.Fatalf("for streams: %s; want the announcement without text", got.Data)
	}

	b := newBroker()
	waiter, stop := b.watch(5)
	defer stop()
	b.publish(ch)
	if got := <-waiter; got.Kind != kindComputed || !strings.Contains(string(got.Data), `"text"`) {
		t.Fatalf("without streams the waiter got %+v; want the change as it came", got)
	}
	stream, _, stopStream := b.subscribe()
	defer stopStream()
	b.publish(ch)
	if got := <-stream; strings.Contains(string(got.Data), `"text"`) {
		t.Fatalf("a stream got the digits: %s", got.Data)
	}
}

// A subscription comes with the sequence of the last change published before it (a new SSE
// stream's first id), and carries exactly the changes after it: none is both announced by
// that id and delivered, or neither. Subscriptions race the publisher here, as SSE streams
// opening race the event follower.
func TestSubscriptionStartsRightAfterTheLastSequence(t *testing.T) {
	b := newBroker()
	b.publish(change{Kind: kindRequested, Number: 1, Seq: 1})
	b.publish(change{Kind: kindRequested, Number: 2, Seq: 2})
	changes, last, stop := b.subscribe()
	if last != 2 || len(changes) != 0 {
		t.Fatalf("subscribed after 2 changes: last %d, %d changes buffered", last, len(changes))
	}
	b.publish(change{Kind: kindRequested, Number: 3, Seq: 3})
	if got := <-changes; got.Seq != 3 {
		t.Fatalf("first change after the subscription: %d, want 3", got.Seq)
	}
	stop()

	const events = 20_000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(4); seq < events; seq++ {
			b.publish(change{Kind: kindProgress, Number: int64(seq), Seq: seq})
		}
	}()
	for subs := 0; ; subs++ {
		changes, last, stop := b.subscribe()
		select {
		case got := <-changes:
			if got.Seq != last+1 {
				t.Fatalf("subscription %d opened at %d, first change %d: want %d", subs, last, got.Seq, last+1)
			}
		case <-done:
			stop()
			return
		}
		stop()
	}
}

// A stream recreated starts its sequences at 1 again, and the follower reads it from there:
// a new SSE stream opens at the follower's last sequence, not at the old stream's highest,
// or it would drop every live event until the new stream passed it.
func TestSubscriptionFollowsARecreatedStream(t *testing.T) {
	b := newBroker()
	b.publish(change{Kind: kindRequested, Number: 1, Seq: 500})
	b.publish(change{Kind: kindRequested, Number: 2, Seq: 1}) // the stream recreated
	_, last, stop := b.subscribe()
	stop()
	if last != 1 {
		t.Errorf("opened at %d after the stream was recreated, want 1", last)
	}
}
