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
	if !strings.HasPrefix(rec.Worker, "live/") || rec.Attempts != 2 {
		t.Fatalf("done by %q after %d attempts, want a claim of live after 2", rec.Worker, rec.Attempts)
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
	if !strings.Contains(rec.Error, "gave up after 3 attempts; the last one failed: the digits did not verify: text of 300! is wrong") {
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

// A delivery of a number that is done is a duplicate: it is acked without computing or
// announcing anything (an announcement that was owed is the reconciler's, see the outbox).
func TestDuplicateOfADoneNumberIsAcked(t *testing.T) {
	var calls atomic.Int32
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		calls.Add(1)
		return mathBig(ctx, n, w, p)
	})
	r := startCalculator(t, testConfig(), engine)
	computed := watchComputed(t, r)
	ctx := context.Background()
	for _, n := range []int64{7, 30000} {
		at := time.Now().UTC().Add(-time.Minute)
		if _, ok, err := r.records.Claim(ctx, n, "crashed", at, at); err != nil || !ok {
			t.Fatalf("claim %d: %v", n, err)
		}
		if _, err := r.records.Complete(ctx, n, "crashed", database.Result{Key: "k", Checksum: strings.Repeat("ab", 32), Size: 1, Digits: 1}, at); err != nil {
			t.Fatal(err)
		}
		r.publish(n)
	}
	for _, lane := range events.Lanes {
		c, err := r.pub.JetStream().Consumer(ctx, events.Stream, lane.Durable())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the duplicate of lane "+string(lane)+" was not acked", func() bool {
			info, err := c.Info(ctx)
			return err == nil && info.AckFloor.Stream > 0 && info.NumAckPending == 0 && info.NumPending == 0
		})
	}
	if calls.Load() != 0 || len(computed()) != 0 {
		t.Errorf("engine ran %d times and %d results were announced, for done numbers", calls.Load(), len(computed()))
	}
	if got := r.counter(t, "factorial_calculator_deliveries_total", "small", "duplicate"); got != 1 {
		t.Errorf("%v small duplicates counted, want 1", got)
	}
}

// What a failed attempt records is shown to every client and travels in factorial.failed: it
// says which step failed, never the error itself (paths, hosts, SQL), which only the log has.
func TestFailureReasonsLeakNothing(t *testing.T) {
	leaky := calculator.EngineFunc(func(context.Context, uint64, io.Writer, func(float64)) (int64, error) {
		return 0, errors.New(`open /var/lib/factorial/secret: pq: relation "factorials" does not exist`)
	})
	r := startCalculator(t, testConfig(), leaky)
	for _, n := range []int64{300, 30000} { // the small lane and the large one
		r.publish(n)
		rec := waitStatus(t, r.records, n, database.StatusFailed)
		if strings.Contains(rec.Error, "/var/lib") || strings.Contains(rec.Error, "pq:") ||
			!strings.Contains(rec.Error, "the last one failed: computing the digits failed") {
			t.Errorf("%d: record error %q, want the step that failed and nothing of the error", n, rec.Error)
		}
	}
}

// A result whose factorial.computed cannot be published (NATS went away while it was
// computed) is recorded all the same, and the failed announcement is counted.
func TestUnpublishedAnnouncementsAreCounted(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		close(started)
		<-release
		return mathBig(ctx, n, w, p)
	})
	r := startCalculator(t, testConfig(), engine)
	r.publish(30000)
	<-started
	r.ns.Shutdown()
	close(release)
	waitStatus(t, r.records, 30000, database.StatusDone)
	deadline := time.Now().Add(15 * time.Second)
	for r.counter(t, "factorial_calculator_publish_failures_total", "computed") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("factorial_calculator_publish_failures_total{event=computed} did not move")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
