package api

import (
	"testing"
)

// A waiter gets the changes of its own number, however many others go by: one waiting for
// 7 sees 7's computed even after thousands of changes of other numbers it never drained.
func TestBrokerWatchersSeeTheirOwnNumber(t *testing.T) {
	b := newBroker()
	seven, stop := b.watch(7)
	defer stop()
	all, stopAll := b.subscribe()
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
