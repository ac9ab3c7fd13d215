package calculator_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator"
)

// abandonedClaims makes the first claim of each lane's statement take effect in the database
// while its caller is told it failed: what a claim cut short by a shutdown (context canceled)
// or a deadline leaves when PostgreSQL runs it all the same.
type abandonedClaims struct {
	*countingRecords
	small, large atomic.Bool
	releases     atomic.Int32
}

// Release fails the first time as a pooled connection that died in the blip would.
func (a *abandonedClaims) Release(ctx context.Context, n int64, worker, reason string, now time.Time) error {
	if a.releases.Add(1) == 1 {
		return io.EOF
	}
	return a.countingRecords.Release(ctx, n, worker, reason, now)
}

func (a *abandonedClaims) ClaimBatch(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]database.Record, error) {
	recs, err := a.countingRecords.ClaimBatch(ctx, ns, worker, now, staleBefore)
	if err == nil && a.small.CompareAndSwap(false, true) {
		return nil, context.Canceled
	}
	return recs, err
}

func (a *abandonedClaims) Claim(ctx context.Context, n int64, worker string, now, staleBefore time.Time) (database.Record, bool, error) {
	rec, ok, err := a.countingRecords.Claim(ctx, n, worker, now, staleBefore)
	if err == nil && a.large.CompareAndSwap(false, true) {
		return database.Record{}, false, context.DeadlineExceeded
	}
	return rec, ok, err
}

// A claim whose answer was lost (a shutdown cancelled it, or its deadline passed) but which
// PostgreSQL carried out is released at once, uncounted (tried again if the first release
// meets a connection that died): the number is not left computing
// under a claim no one holds until the lease runs out, then computed in a second attempt.
// Seen live: a request claimed as its calculator was stopped waited 12 s and was done after
// 2 attempts.
func TestAbandonedClaimIsReleased(t *testing.T) {
	cfg := testConfig()
	cfg.Lease, cfg.AckWait = 20*time.Second, 30*time.Second
	r := startCalculatorWith(t, cfg, calculator.EngineFunc(mathBig), func(c *countingRecords) calculatorRecords {
		return &abandonedClaims{countingRecords: c}
	})
	ns := []int64{7, 30_001}
	for _, n := range ns {
		if _, _, err := r.records.Request(context.Background(), n, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.publish(n)
	}
	for _, n := range ns {
		var rec database.Record
		waitFor(t, 8*time.Second, "not done well within the lease", func() bool {
			rec, _ = r.records.Get(context.Background(), n)
			return rec.Status == database.StatusDone
		})
		if rec.Attempts != 1 {
			t.Errorf("%d done after %d attempts, want 1", n, rec.Attempts)
		}
	}
}
