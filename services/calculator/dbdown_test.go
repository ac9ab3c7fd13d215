package calculator_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator"
)

// downRecords is the repository with the database gone until up is set: every claim fails
// as a connection that does not answer would.
type downRecords struct {
	*countingRecords
	up     atomic.Bool
	claims atomic.Int32
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (d *downRecords) ClaimBatch(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]database.Record, error) {
	d.claims.Add(1)
	if !d.up.Load() {
		return nil, errDown
	}
	return d.countingRecords.ClaimBatch(ctx, ns, worker, now, staleBefore)
}

func (d *downRecords) Claim(ctx context.Context, n int64, worker string, now, staleBefore time.Time) (database.Record, bool, error) {
	d.claims.Add(1)
	if !d.up.Load() {
		return database.Record{}, false, errDown
	}
	return d.countingRecords.Claim(ctx, n, worker, now, staleBefore)
}

// With the database down, requests are tried again later and never marked failed, whatever
// the attempt limit; once it is back, every one is computed, in one attempt.
func TestDatabaseDownIsNotAFailedAttempt(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAttempts = 1
	var down *downRecords
	r := startCalculatorWith(t, cfg, calculator.EngineFunc(mathBig), func(c *countingRecords) calculatorRecords {
		down = &downRecords{countingRecords: c}
		return down
	})
	ns := []int64{5, 6, 7, 30_001}
	for _, n := range ns {
		if _, _, err := r.records.Request(context.Background(), n, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.publish(n)
	}
	waitFor(t, 10*time.Second, "no claim tried while the database is down", func() bool { return down.claims.Load() >= 6 })
	for _, n := range ns {
		if rec, _ := r.records.Get(context.Background(), n); rec.Status != database.StatusPending || rec.Attempts != 0 {
			t.Fatalf("%d with the database down: %s after %d attempts, want pending", n, rec.Status, rec.Attempts)
		}
	}
	checkUnavailableNotRetry(t, r)
	down.up.Store(true)
	for _, n := range ns {
		if rec := waitStatus(t, r.records, n, database.StatusDone); rec.Attempts != 1 {
			t.Errorf("%d done after %d attempts, want 1", n, rec.Attempts)
		}
	}
}

// recordBlip fails the first Complete or CompleteBatch as a connection reset would (a
// failover, SQLITE_BUSY): the database answers again for the Release right after.
type recordBlip struct {
	*countingRecords
	records atomic.Int32
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (b *recordBlip) Complete(ctx context.Context, n int64, worker string, r database.Result, now time.Time) (database.Record, error) {
	if b.records.Add(1) == 1 {
		return database.Record{}, errReset
	}
	return b.countingRecords.Complete(ctx, n, worker, r, now)
}

func (b *recordBlip) CompleteBatch(ctx context.Context, worker string, cs []database.Completion, now time.Time) ([]database.Record, error) {
	if b.records.Add(1) == 1 {
		return nil, errReset
	}
	return b.countingRecords.CompleteBatch(ctx, worker, cs, now)
}

// A database that does not answer while a result is recorded is not a failed attempt either:
// with one attempt allowed, the number is given back uncounted and done once the database
// answers, in either lane.
func TestDatabaseBlipWhileRecordingIsNotAFailedAttempt(t *testing.T) {
	for _, tc := range []struct {
		lane string
		n    int64
	}{{"small", 7}, {"large", 30_001}} {
		t.Run(tc.lane, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxAttempts = 1
			var blip *recordBlip
			r := startCalculatorWith(t, cfg, calculator.EngineFunc(mathBig), func(c *countingRecords) calculatorRecords {
				blip = &recordBlip{countingRecords: c}
				return blip
			})
			if _, _, err := r.records.Request(context.Background(), tc.n, time.Now()); err != nil {
				t.Fatal(err)
			}
			r.publish(tc.n)
			var rec database.Record
			waitFor(t, 10*time.Second, "never settled", func() bool {
				rec, _ = r.records.Get(context.Background(), tc.n)
				return rec.Status == database.StatusDone || rec.Status == database.StatusFailed
			})
			if rec.Status != database.StatusDone || rec.Attempts != 1 {
				t.Errorf("%d after a database blip while recording: %s after %d attempts (%q), want done after 1", tc.n, rec.Status, rec.Attempts, rec.Error)
			}
			if got := blip.records.Load(); got < 2 {
				t.Errorf("%d statements recording results, want the failed one and another", got)
			}
		})
	}
}

// checkUnavailableNotRetry: deliveries tried again because a dependency did not answer are
// counted as unavailable, apart from attempts that failed (retry), in both lanes.
func checkUnavailableNotRetry(t *testing.T, r *rig) {
	t.Helper()
	var unavailable float64
	for _, lane := range []string{"small", "large"} {
		unavailable += r.counter(t, "factorial_calculator_deliveries_total", lane, "unavailable")
		if retry := r.counter(t, "factorial_calculator_deliveries_total", lane, "retry"); retry != 0 {
			t.Errorf("%s lane: %v deliveries counted as retry (a failed attempt) for a dependency that did not answer", lane, retry)
		}
	}
	if unavailable == 0 {
		t.Error("no delivery counted as unavailable while a dependency did not answer")
	}
}
