package calculator_test

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"sync"
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

// slowStore is a memory store whose Put takes a while, as S3 can.
type slowStore struct {
	*objectstore.Memory
	d time.Duration
}

func (s *slowStore) Put(ctx context.Context, key string, r io.Reader) (objectstore.Object, error) {
	time.Sleep(s.d)
	return s.Memory.Put(ctx, key, r)
}

// A small-lane batch that takes longer than the ack wait (its results stored as objects on a
// slow store) keeps its deliveries and claims alive while it runs: a second calculator takes
// none of it over, and every number is computed once.
func TestSmallBatchLongerThanAckWaitIsNotTakenOver(t *testing.T) {
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
	records := database.NewFactorials(dbtest.SQLite(t))
	store := &slowStore{Memory: objectstore.NewMemory(), d: 200 * time.Millisecond}
	cfg := testConfig()
	cfg.SmallConcurrency = 1
	cfg.ResultRowMaxBytes = 0 // every result an object, as for n in (17,235, 20,000] by default
	cfg.AckWait, cfg.Lease, cfg.ProgressEvery = time.Second, 600*time.Millisecond, 100*time.Millisecond
	const count = 8 // one batch: 8 x 200 ms = 1.6 s, past the ack wait and the lease
	cfg.BatchSize = count
	dial := natsbus.NewDialer(ns.ClientURL(), log)
	for _, id := range []string{"a", "b"} {
		ctx, cancel := context.WithCancel(context.Background())
		svc, err := calculator.New(ctx, cfg, calculator.Deps{Log: log, Dial: dial, Records: records, Store: store,
			Engine: calculator.EngineFunc(mathBig), Registry: prometheus.NewRegistry(), WorkerID: id})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		<-svc.Running()
		t.Cleanup(func() { cancel(); <-done })
	}
	nc, err := dial("test-publisher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := natsbus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]natsbus.Msg, count)
	for i := range count {
		n := int64(100 + i)
		if _, _, err := records.Request(context.Background(), n, time.Now()); err != nil {
			t.Fatal(err)
		}
		payload, _ := events.Encode(events.Requested{Number: n, RequestedAt: time.Now().UTC()})
		msgs[i] = natsbus.Msg{Subject: events.RequestedSubject(n), Data: payload}
	}
	if _, failed := pub.PublishAll(context.Background(), msgs); failed > 0 { // together: one batch
		t.Fatalf("%d requests not published", failed)
	}
	for i := range count {
		rec := waitStatus(t, records, int64(100+i), database.StatusDone)
		if rec.Attempts != 1 {
			t.Errorf("%d computed in %d attempts, want 1: the batch was taken over", rec.Number, rec.Attempts)
		}
	}
}
