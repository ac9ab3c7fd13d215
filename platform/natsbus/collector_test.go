package natsbus

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/factorial-service/factorial/events"
)

// gather returns the value of each sample of reg, by name and consumer label.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "/" + l.GetValue()
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}

// The collector reports each lane's backlog (pending) and what calculators hold (ack
// pending) as JetStream counts them at the scrape; with NATS gone a scrape ends within its
// timeout, without them, and counts an error.
func TestCollectorReportsTheBacklog(t *testing.T) {
	t.Parallel()
	ns := startServer(t)
	b := bus{url: ns.ClientURL(), topo: defaultTopology}
	js, _ := provisionBus(t, b, lanes(time.Minute, 1000))
	for n := range int64(5) {
		if _, err := js.Publish(t.Context(), b.requestSubject(n), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(t.Context(), b.requestSubject(events.SmallMaxNumber+1), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	// JetStream counts a consumer's pending messages a moment after it stored them: the
	// scrapes below report them once it has.
	waitPending(t, js, b, events.LaneSmall, 5)
	waitPending(t, js, b, events.LaneLarge, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(newJS(t, dial(t, b.url, "metrics")), b.topo, 500*time.Millisecond))

	small, large := events.LaneSmall.Durable(), events.LaneLarge.Durable()
	got := gather(t, reg)
	for key, want := range map[string]float64{
		"factorial_jetstream_consumer_pending/" + small: 5, "factorial_jetstream_consumer_pending/" + large: 1,
		"factorial_jetstream_consumer_ack_pending/" + small: 0, "factorial_jetstream_stream_messages": 6,
		"factorial_jetstream_scrape_errors_total": 0,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}

	msgs, err := newTestWorker(t, b, events.LaneSmall).Fetch(t.Context(), 2)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %d, %v", len(msgs), err)
	}
	got = gather(t, reg)
	if got["factorial_jetstream_consumer_pending/"+small] != 3 || got["factorial_jetstream_consumer_ack_pending/"+small] != 2 {
		t.Errorf("after fetching 2: pending %v, ack pending %v; want 3 and 2",
			got["factorial_jetstream_consumer_pending/"+small], got["factorial_jetstream_consumer_ack_pending/"+small])
	}
	// Given back and delivered again, they are redelivered; a pull request that waits on the
	// large lane is counted there. A nak is a publish the server takes a moment later, and
	// until then the next fetch gets the messages not delivered yet: nak as a request, which
	// the server answers once it has taken the nak (what Msg.DoubleAck is to an ack).
	nc := dial(t, b.url, "nak")
	for _, m := range msgs {
		if _, err := nc.Request(m.Reply(), []byte("-NAK"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	again, err := newTestWorker(t, b, events.LaneSmall).Fetch(t.Context(), 2)
	if err != nil || len(again) != 2 || again[0].Subject() != msgs[0].Subject() || again[1].Subject() != msgs[1].Subject() {
		t.Fatalf("fetch again: %d, %v; want the 2 given back", len(again), err)
	}
	largeWorker := newTestWorker(t, b, events.LaneLarge)
	if _, err := largeWorker.Fetch(t.Context(), 1); err != nil { // the one large request
		t.Fatal(err)
	}
	waitCtx, stopWaiting := context.WithCancel(t.Context())
	defer stopWaiting()
	go func() { _, _ = largeWorker.Fetch(waitCtx, 1) }() // nothing left: it waits
	deadline := time.Now().Add(5 * time.Second)
	for got = gather(t, reg); got["factorial_jetstream_consumer_waiting/"+large] < 1 && time.Now().Before(deadline); got = gather(t, reg) {
		time.Sleep(20 * time.Millisecond)
	}
	if got["factorial_jetstream_consumer_redelivered/"+small] != 2 || got["factorial_jetstream_consumer_waiting/"+large] < 1 {
		t.Errorf("redelivered %v, want 2; waiting on the large lane %v, want at least 1",
			got["factorial_jetstream_consumer_redelivered/"+small], got["factorial_jetstream_consumer_waiting/"+large])
	}
	stopWaiting()

	ns.Shutdown()
	start := time.Now()
	got = gather(t, reg)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a scrape with NATS down took %v, want it bounded by the timeout", took)
	}
	if _, ok := got["factorial_jetstream_consumer_pending/"+small]; ok || got["factorial_jetstream_scrape_errors_total"] != 1 {
		t.Errorf("with NATS down: %v; want no consumer series and one error", got)
	}
}
