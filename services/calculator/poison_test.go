package calculator_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/services/calculator"
)

type deadLetter struct {
	subject, reason, payload string
}

type deadLetters chan deadLetter

// watchDeadLetters subscribes to factorial.deadletter.
func watchDeadLetters(t *testing.T, dial natsbus.Dialer) deadLetters {
	t.Helper()
	nc, err := dial("dead-letter-watcher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ch := make(deadLetters, 100)
	if _, err := nc.Subscribe(events.SubjectDeadLetter, func(m *nats.Msg) {
		ch <- deadLetter{m.Header.Get(events.HeaderSubject), m.Header.Get(events.HeaderReason), string(m.Data)}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

func (d deadLetters) next(t *testing.T) deadLetter {
	t.Helper()
	select {
	case x := <-d:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter within 10s")
		return deadLetter{}
	}
}

// Requests that cannot be read, or that a calculator must not compute, go to
// factorial.deadletter with the reason in a header and are counted; nothing is computed or
// recorded for them, and the calculator goes on with good requests.
func TestPoisonRequestsAreSetAside(t *testing.T) {
	var calls atomic.Int32
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		calls.Add(1)
		return mathBig(ctx, n, w, p)
	})
	r := startCalculator(t, testConfig(), engine)
	dead := watchDeadLetters(t, r.dial)
	at := `"2026-01-01T00:00:00Z"`
	tests := []struct {
		subject, payload, kind, reason string
	}{
		{"factorial.requested.small.0", `{}`, "payload", "missing field number"},
		{"factorial.requested.small.0", `null`, "payload", "not a JSON object"},
		{"factorial.requested.small.12", `{"number":12,"number":13,"requested_at":` + at + `}`, "payload", "appears twice"},
		{"factorial.requested.small.12", `{"number":12,"requested_at":` + at + `,"priority":1}`, "payload", "unknown field"},
		{"factorial.requested.small.12", `{"number":"12","requested_at":` + at + `}`, "payload", "cannot unmarshal string"},
		{"factorial.requested.small.12", `{"number":13,"requested_at":` + at + `}`, "mismatch", "differs from the subject's 12"},
		{"factorial.requested.small.99999", `{"number":99999,"requested_at":` + at + `}`, "subject", "belongs to lane large"},
		{"factorial.requested.small.012", `{"number":12,"requested_at":` + at + `}`, "subject", "does not end with a number"},
		{"factorial.requested.large.200000", `{"number":200000,"requested_at":` + at + `}`, "out_of_range", "MAX_NUMBER 100000"},
	}
	for _, tt := range tests {
		r.publishRaw(t, tt.subject, tt.payload)
	}
	got := map[string]deadLetter{} // by payload and subject: the lanes run side by side
	for range tests {
		d := dead.next(t)
		got[d.subject+" "+d.payload] = d
	}
	for _, tt := range tests {
		d, ok := got[tt.subject+" "+tt.payload]
		if !ok || !strings.Contains(d.reason, tt.reason) {
			t.Errorf("dead letter of %s %s: %+v, want a reason containing %q", tt.subject, tt.payload, d, tt.reason)
		}
	}
	kinds := map[string]int{}
	for _, tt := range tests {
		kinds[tt.kind]++
	}
	// A dead letter is counted once JetStream has acked it, which can be just after the
	// watcher above received it: wait a little for the last counts.
	deadline := time.Now().Add(5 * time.Second)
	for kind, want := range kinds {
		got := r.counter(t, "factorial_calculator_dead_letters_total", kind)
		for got < float64(want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			got = r.counter(t, "factorial_calculator_dead_letters_total", kind)
		}
		if got != float64(want) {
			t.Errorf("dead letters of kind %s counted %v, want %d", kind, got, want)
		}
	}

	r.publish(12)
	waitStatus(t, r.records, 12, database.StatusDone)
	if calls.Load() != 1 {
		t.Errorf("engine ran %d times, want once (for the good request)", calls.Load())
	}
	for _, n := range []int64{0, 13, 99999, 200000} {
		if _, err := r.records.Get(context.Background(), n); !errors.Is(err, database.ErrNotFound) {
			t.Errorf("a record exists for %d: %v", n, err)
		}
	}
	// Terminated, not redelivered: every stream message was acked or terminated.
	js := r.pub.JetStream()
	c, err := js.Consumer(t.Context(), events.Stream, events.LaneSmall.Durable())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "deliveries still pending", func() bool {
		info, err := c.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
	})
	select {
	case d := <-dead:
		t.Errorf("an extra dead letter: %+v", d)
	case <-time.After(200 * time.Millisecond):
	}
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
