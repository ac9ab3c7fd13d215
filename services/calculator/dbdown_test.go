package calculator_test

import (
	"context"
	"errors"
	"sync/atomic"
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
	down.up.Store(true)
	for _, n := range ns {
		if rec := waitStatus(t, r.records, n, database.StatusDone); rec.Attempts != 1 {
			t.Errorf("%d done after %d attempts, want 1", n, rec.Attempts)
		}
	}
}
