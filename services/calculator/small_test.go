package calculator_test

import (
	"context"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/services/calculator"
)

// watchComputed collects the factorial.computed events.
func watchComputed(t *testing.T, r *rig) func() map[int64]events.Computed {
	t.Helper()
	var mu sync.Mutex
	got := map[int64]events.Computed{}
	if _, err := r.conn(t, "computed-watcher").Subscribe(events.SubjectComputed, func(m *nats.Msg) {
		var c events.Computed
		if err := events.Decode(m.Data, &c); err != nil {
			t.Errorf("unreadable factorial.computed: %v", err)
			return
		}
		mu.Lock()
		got[c.Number] = c
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return func() map[int64]events.Computed {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int64]events.Computed, len(got))
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// A crowd of small requests is claimed and completed in batches (a few statements, not one
// per number), each result is right, lives in its row when it is small, and its
// factorial.computed carries the digits, so that no subscriber needs a read.
//
// The completions are recorded beside the computing, whenever the recorder is idle: with a
// database that answers in less time than a result takes to compute, a statement may hold a
// single result, and batching shows when the database is slow (loaded): the results gather
// while a statement runs. The database here takes 50 ms more for each completion.
func TestSmallLaneWorksInBatches(t *testing.T) {
	cfg := testConfig()
	cfg.BatchSize = 64
	cfg.ResultRowMaxBytes = 4000 // n up to about 1,400 in the row, the others as objects
	r := startCalculatorWith(t, cfg, calculator.Factorial, func(c *countingRecords) calculatorRecords {
		return slowCompletes{c, 50 * time.Millisecond}
	})
	computed := watchComputed(t, r)

	const count = 400
	msgs := make([]natsbus.Msg, count)
	for i := range msgs {
		n := int64(i*50 + 1) // 1 to 19,951: all small
		payload, _ := events.Encode(events.Requested{Number: n, RequestedAt: time.Now().UTC()})
		msgs[i] = natsbus.Msg{Subject: events.RequestedSubject(n), Data: payload}
	}
	if _, failed := r.pub.PublishAll(t.Context(), msgs); failed > 0 {
		t.Fatalf("%d publishes failed", failed)
	}
	waitFor(t, 30*time.Second, "not every request announced", func() bool { return len(computed()) == count })

	got := computed()
	inRow := 0
	for i := range count {
		n := int64(i*50 + 1)
		rec, err := r.records.Get(context.Background(), n)
		if err != nil || rec.Status != database.StatusDone {
			t.Fatalf("%d: %+v %v", n, rec, err)
		}
		want := new(big.Int).MulRange(1, n).String()
		c := got[n]
		switch {
		case rec.Size <= cfg.ResultRowMaxBytes:
			inRow++
			if rec.Key != "" || rec.Text != want || c.Text != want || c.Key != "" || c.CreatedAt == nil {
				t.Fatalf("%d! in its row: key %q, row text right %v, event text right %v", n, rec.Key, rec.Text == want, c.Text == want)
			}
		default:
			obj, err := r.store.Open(context.Background(), rec.Key)
			if err != nil {
				t.Fatalf("%d!: %v", n, err)
			}
			text, _ := io.ReadAll(obj)
			if string(text) != want || rec.Text != "" || c.Text != "" || c.Key != rec.Key {
				t.Fatalf("%d! as an object: right %v, row text %d bytes, event text %d bytes", n, string(text) == want, len(rec.Text), len(c.Text))
			}
		}
		if c.Checksum != rec.Checksum || c.Size != rec.Size {
			t.Fatalf("the event of %d! says %s/%d, the row %s/%d", n, c.Checksum, c.Size, rec.Checksum, rec.Size)
		}
	}
	if inRow == 0 || inRow == count {
		t.Errorf("%d of %d results in their row: the test should see both kinds", inRow, count)
	}
	claims, completes := r.counts.claims.Load(), r.counts.completes.Load()
	t.Logf("%d requests: %d claim statements, %d complete statements", count, claims, completes)
	if claims > count/4 || completes > count/4 {
		t.Errorf("%d claim and %d complete statements for %d requests: not batched", claims, completes, count)
	}
	if done := r.counter(t, "factorial_calculator_deliveries_total", "small", "done"); done != count {
		t.Errorf("%v deliveries done, want %d", done, count)
	}
}

// slowCompletes is a database that takes delay more for each completion statement.
type slowCompletes struct {
	*countingRecords
	delay time.Duration
}

func (s slowCompletes) CompleteBatch(ctx context.Context, worker string, cs []database.Completion, now time.Time) ([]database.Record, error) {
	time.Sleep(s.delay)
	return s.countingRecords.CompleteBatch(ctx, worker, cs, now)
}
