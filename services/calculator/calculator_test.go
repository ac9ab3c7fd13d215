package calculator_test

import (
	"context"
	"errors"
	"io"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator"
)

func testConfig() calculator.Config {
	return calculator.Config{
		MaxNumber: 100000, Concurrency: 1, SmallConcurrency: 1, BatchSize: 16, MaxAttempts: 3, Replicas: 1,
		AckWait: 2 * time.Second, Lease: time.Second, RetryDelay: 50 * time.Millisecond,
		ReconcileEvery: time.Hour, PendingAfter: time.Hour, ProgressEvery: 100 * time.Millisecond,
	}
}

func mathBig(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
	s := new(big.Int).MulRange(1, int64(n)).String()
	if n < 2 {
		s = "1"
	}
	_, err := io.WriteString(w, s)
	return int64(len(s)), err
}

func waitStatus(t *testing.T, records *database.Factorials, n int64, want database.Status) database.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		rec, err := records.Get(context.Background(), n)
		if err == nil && rec.Status == want {
			return rec
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec, err := records.Get(context.Background(), n)
	t.Fatalf("%d never became %s: %+v %v", n, want, rec, err)
	return rec
}

// A calculator killed mid-computation leaves its claim behind with a heartbeat that stops;
// a live calculator takes the number over once the lease has run out.
func TestDeadCalculatorsClaimIsTakenOver(t *testing.T) {
	r := startCalculator(t, testConfig(), calculator.EngineFunc(mathBig))
	records, store, publish := r.records, r.store, r.publish
	ctx := context.Background()
	past := time.Now().UTC().Add(-time.Minute)
	if _, ok, err := records.Claim(ctx, 400, "killed", past, past.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("claim as the dead worker: %v", err)
	}
	publish(400) // the redelivery of the dead worker's message
	rec := waitStatus(t, records, 400, database.StatusDone)
	if rec.Worker != "live" || rec.Attempts != 2 {
		t.Fatalf("done by %q after %d attempts, want live after 2", rec.Worker, rec.Attempts)
	}
	obj, err := store.Open(ctx, rec.Key)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(obj)
	if want := new(big.Int).MulRange(1, 400).String(); string(text) != want {
		t.Fatal("stored text is not 400!")
	}
}

// An engine that writes a wrong digit never gets its result reported done: every attempt
// fails verification, and the number ends failed with the reason.
func TestWrongDigitsAreNeverReportedDone(t *testing.T) {
	var calls atomic.Int32
	corrupt := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, _ func(float64)) (int64, error) {
		calls.Add(1)
		s := []byte(new(big.Int).MulRange(1, int64(n)).String())
		s[len(s)/2] = '0' + (s[len(s)/2]-'0'+1)%10
		_, err := w.Write(s)
		return int64(len(s)), err
	})
	r := startCalculator(t, testConfig(), corrupt)
	records, publish := r.records, r.publish
	publish(300)
	rec := waitStatus(t, records, 300, database.StatusFailed)
	if !strings.Contains(rec.Error, "gave up after 3 attempts; the last one failed: text of 300! is wrong") {
		t.Fatalf("error %q", rec.Error)
	}
	if calls.Load() != 3 {
		t.Errorf("engine ran %d times, want 3", calls.Load())
	}
	if rec.Checksum != "" || rec.Key != "" {
		t.Errorf("a failed record carries a result: %+v", rec)
	}
}

// A request above MAX_NUMBER is set aside as a dead letter and nothing is recorded for it,
// unless the API recorded it (its MAX_NUMBER is larger): then the record fails with the
// reason, so its client is told.
func TestAboveMaxNumberIsSetAside(t *testing.T) {
	cfg := testConfig()
	cfg.MaxNumber = 50
	var calls atomic.Int32
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		calls.Add(1)
		return mathBig(ctx, n, w, p)
	})
	r := startCalculator(t, cfg, engine)
	records, publish := r.records, r.publish
	dead := watchDeadLetters(t, r.dial)
	if _, _, err := records.Request(context.Background(), 52, time.Now()); err != nil {
		t.Fatal(err)
	}
	publish(51)
	publish(52)
	for _, want := range []string{"factorial.requested.small.51", "factorial.requested.small.52"} {
		if d := dead.next(t); d.subject != want || !strings.Contains(d.reason, "MAX_NUMBER 50") {
			t.Fatalf("dead letter %+v, want %s above MAX_NUMBER", d, want)
		}
	}
	rec := waitStatus(t, records, 52, database.StatusFailed)
	if !strings.Contains(rec.Error, "MAX_NUMBER") {
		t.Errorf("error %q", rec.Error)
	}
	if _, err := records.Get(context.Background(), 51); !errors.Is(err, database.ErrNotFound) {
		t.Errorf("a record was made for the dead letter 51: %v", err)
	}
	publish(50)
	waitStatus(t, records, 50, database.StatusDone)
	if calls.Load() != 1 {
		t.Errorf("engine ran %d times, want once (for 50)", calls.Load())
	}
}

// A duplicate delivery of a recently done number announces it again (the first announcement
// may have been lost in a crash between recording and publishing); an old one does not, so a
// replayed stream does not announce every result ever computed.
func TestDuplicateOfRecentResultIsAnnouncedAgain(t *testing.T) {
	var calls atomic.Int32
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		calls.Add(1)
		return mathBig(ctx, n, w, p)
	})
	r := startCalculator(t, testConfig(), engine)
	records, publish, dial := r.records, r.publish, r.dial
	nc, err := dial("watcher")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	computed := make(chan int64, 10)
	sub, err := nc.Subscribe(events.SubjectComputed, func(m *nats.Msg) {
		var c events.Computed
		if events.Decode(m.Data, &c) == nil {
			computed <- c.Number
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()
	finish := func(n int64, at time.Time) {
		if _, ok, err := records.Claim(ctx, n, "crashed", at, at); err != nil || !ok {
			t.Fatalf("claim %d: %v", n, err)
		}
		if _, err := records.Complete(ctx, n, "crashed", database.Result{Key: "k", Checksum: strings.Repeat("ab", 32), Size: 1, Digits: 1}, at); err != nil {
			t.Fatal(err)
		}
	}
	finish(7, time.Now().UTC().Add(-time.Minute))
	finish(8, time.Now().UTC().Add(-2*time.Hour))
	publish(8)
	publish(7)
	select {
	case n := <-computed:
		if n != 7 {
			t.Fatalf("announced %d, want 7", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the recent result was not announced again")
	}
	select {
	case n := <-computed:
		t.Fatalf("announced %d as well", n)
	case <-time.After(300 * time.Millisecond):
	}
	if calls.Load() != 0 {
		t.Errorf("engine ran %d times for done numbers", calls.Load())
	}
}
