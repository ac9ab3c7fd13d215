package calculator_test

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/services/calculator"
)

// startCalculator runs a calculator over an in-process NATS server, SQLite and a memory store.
func startCalculator(t *testing.T, cfg calculator.Config, engine calculator.Engine) (*database.Factorials, *objectstore.Memory, func(n int64), natsbus.Dialer) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dial := natsbus.NewDialer(ns.ClientURL(), log)
	records := database.NewFactorials(dbtest.SQLite(t))
	store := objectstore.NewMemory()

	ctx, cancel := context.WithCancel(context.Background())
	svc, err := calculator.New(ctx, cfg, calculator.Deps{
		Log: log, Dial: dial, Records: records, Store: store, Engine: engine,
		Registry: prometheus.NewRegistry(), WorkerID: "live",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-svc.Running()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	nc, err := dial("test-publisher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := natsbus.NewPublisher(nc, log)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n int64) {
		payload, _ := events.Encode(events.Requested{Number: n, RequestedAt: time.Now().UTC()})
		if err := pub.Publish(events.SubjectRequested, natsbus.NewMessage(payload, "")); err != nil {
			t.Fatal(err)
		}
	}
	return records, store, publish, dial
}

func testConfig() calculator.Config {
	return calculator.Config{
		MaxNumber: 100000, Concurrency: 1, MaxAttempts: 3,
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
	records, store, publish, _ := startCalculator(t, testConfig(), calculator.EngineFunc(mathBig))
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
	records, _, publish, _ := startCalculator(t, testConfig(), corrupt)
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

// A number above MAX_NUMBER published by someone other than the API fails with a reason
// instead of being computed.
func TestAboveMaxNumberFails(t *testing.T) {
	cfg := testConfig()
	cfg.MaxNumber = 50
	var calls atomic.Int32
	engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, p func(float64)) (int64, error) {
		calls.Add(1)
		return mathBig(ctx, n, w, p)
	})
	records, _, publish, _ := startCalculator(t, cfg, engine)
	publish(51)
	rec := waitStatus(t, records, 51, database.StatusFailed)
	if !strings.Contains(rec.Error, "MAX_NUMBER") || calls.Load() != 0 {
		t.Fatalf("error %q after %d engine calls", rec.Error, calls.Load())
	}
	publish(50)
	waitStatus(t, records, 50, database.StatusDone)
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
	records, _, publish, dial := startCalculator(t, testConfig(), engine)
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
