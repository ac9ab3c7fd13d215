package dbtest_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// Recompute, on SQLite and PostgreSQL: a done row with the corrupt checksum goes back to
// pending once, however many callers find it corrupt at the same time; any other row is
// left alone.
func TestRecompute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		f := dbtest.Factorials(db)
		const sum = "5c1f"
		done := func(t *testing.T) int64 {
			n := newNumber()
			state(t, f, n, database.StatusComputing)
			must(t, err2(f.Complete(t.Context(), n, "w1", database.Result{Key: "k", Checksum: sum, Size: 4, Digits: 4, ComputeMS: 3}, at(2*time.Second))))
			return n
		}
		now := at(time.Hour)

		t.Run("done with that checksum goes back to pending, its result cleared", func(t *testing.T) {
			n := done(t)
			rec, reset, err := f.Recompute(t.Context(), n, sum, "stored digits do not match", now)
			if err != nil || !reset {
				t.Fatalf("reset=%v err=%v", reset, err)
			}
			if rec.Status != database.StatusPending || rec.Attempts != 0 || rec.Progress != 0 || rec.Key != "" ||
				rec.Checksum != "" || rec.Size != 0 || rec.ComputedAt != nil || rec.Error != "stored digits do not match" {
				t.Fatalf("record %+v", rec)
			}
			wantTime(t, "RequestedAt", rec.RequestedAt, now)
			if stored := get(t, f, n); !equalRecords(stored, rec) {
				t.Errorf("stored:\n got %+v\nwant %+v", stored, rec)
			}
			// Claimable again, like any pending request.
			if _, ok, err := f.Claim(t.Context(), n, "w2", now.Add(time.Second), now); err != nil || !ok {
				t.Fatalf("claim after recompute: ok=%v err=%v", ok, err)
			}
		})
		t.Run("another checksum, or a row not done, is left alone", func(t *testing.T) {
			n := done(t)
			rec, reset, err := f.Recompute(t.Context(), n, "other", "x", now)
			if err != nil || reset || rec.Status != database.StatusDone || rec.Checksum != sum {
				t.Fatalf("reset=%v err=%v rec=%+v", reset, err, rec)
			}
			for _, s := range []database.Status{database.StatusPending, database.StatusComputing, database.StatusFailed} {
				m := newNumber()
				state(t, f, m, s)
				if rec, reset, err := f.Recompute(t.Context(), m, "", "x", now); err != nil || reset || rec.Status != s {
					t.Fatalf("%s: reset=%v err=%v rec=%+v", s, reset, err, rec)
				}
			}
		})
		t.Run("a missing row is ErrNotFound", func(t *testing.T) {
			if _, _, err := f.Recompute(t.Context(), newNumber(), sum, "x", now); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("of many concurrent callers one resets it", func(t *testing.T) {
			n := done(t)
			var resets atomic.Int32
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					_, reset, err := f.Recompute(t.Context(), n, sum, "x", now)
					if err != nil {
						t.Error(err)
					}
					if reset {
						resets.Add(1)
					}
				})
			}
			wg.Wait()
			if resets.Load() != 1 {
				t.Fatalf("%d resets, want 1", resets.Load())
			}
		})
	})
}
