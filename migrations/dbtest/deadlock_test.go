package dbtest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
)

// Batches over the same numbers in opposite orders do not deadlock on PostgreSQL: two API
// replicas asking for them, and a calculator completing what clients ask for again
// (database's lockOrder). Each failed with 40P01 before the rows were taken in order.
func TestBatchesOverTheSameNumbersDoNotDeadlock(t *testing.T) {
	db := Postgres(t)
	f := database.NewFactorials(db)
	ctx := context.Background()
	var asc []database.NewRequest
	var ns []int64
	for n := int64(1); n <= 200; n++ {
		asc = append(asc, database.NewRequest{Number: n})
		ns = append(ns, n)
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	nsDesc := slices.Clone(ns)
	slices.Reverse(nsDesc)

	t.Run("requests", func(t *testing.T) {
		if _, err := f.RequestBatch(ctx, asc, time.Now()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		stop := time.Now().Add(2 * time.Second)
		for i := range 4 {
			reqs := asc
			if i%2 == 1 {
				reqs = desc
			}
			wg.Go(func() {
				for time.Now().Before(stop) {
					if _, err := f.RequestBatch(ctx, reqs, time.Now()); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("RequestBatch: %v", err)
		}
	})

	t.Run("completions beside requests", func(t *testing.T) {
		for round := range 10 {
			if _, err := db.ExecContext(ctx, `DELETE FROM factorials`); err != nil {
				t.Fatal(err)
			}
			if _, err := f.RequestBatch(ctx, asc, time.Now()); err != nil {
				t.Fatal(err)
			}
			if c, err := f.ClaimBatch(ctx, nsDesc, "w", time.Now(), time.Now()); err != nil || len(c) != len(ns) {
				t.Fatalf("claimed %d of %d: %v", len(c), len(ns), err)
			}
			cs := make([]database.Completion, 0, len(ns))
			for _, n := range nsDesc {
				cs = append(cs, database.Completion{Number: n, Result: database.Result{Checksum: "x", Text: "1", Size: 1, Digits: 1}})
			}
			var wg sync.WaitGroup
			var cerr, rerr error
			wg.Go(func() { _, cerr = f.CompleteBatch(ctx, "w", cs, time.Now()) })
			wg.Go(func() {
				for range 5 {
					if _, rerr = f.RequestBatch(ctx, asc, time.Now()); rerr != nil {
						return
					}
				}
			})
			wg.Wait()
			if cerr != nil || rerr != nil {
				t.Fatalf("round %d: CompleteBatch %v, RequestBatch %v", round, cerr, rerr)
			}
		}
	})
}

// A statement PostgreSQL picks as a deadlock's victim is transient (Unavailable): a 503 to
// a client and no failed attempt for a calculator, not a 500 or a failure.
func TestDeadlockIsUnavailable(t *testing.T) {
	db := Postgres(t)
	f := database.NewFactorials(db)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.RequestBatch(ctx, []database.NewRequest{{Number: 1}, {Number: 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	tx1, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	tx2, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	if _, err := tx1.ExecContext(ctx, `UPDATE factorials SET progress = 0 WHERE number = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.ExecContext(ctx, `UPDATE factorials SET progress = 0 WHERE number = 2`); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := tx1.ExecContext(ctx, `UPDATE factorials SET progress = 0 WHERE number = 2`)
		errs <- err
	}()
	go func() {
		_, err := tx2.ExecContext(ctx, `UPDATE factorials SET progress = 0 WHERE number = 1`)
		errs <- err
	}()
	// One of the two is the victim; the other goes on once the victim's transaction ends
	// (the driver may end it at once), so which answers first is not known: take both,
	// rolling back to free the other if it still waits.
	first := <-errs
	_, _ = tx1.Rollback(), tx2.Rollback()
	second := <-errs
	var victim error
	for _, err := range []error{first, second} {
		if err != nil && strings.Contains(err.Error(), "40P01") {
			victim = err
		}
	}
	if victim == nil {
		t.Fatalf("no deadlock detected: %v, %v", first, second)
	}
	if !database.Unavailable(victim) {
		t.Fatalf("deadlock victim: %v (Unavailable=false), want an error Unavailable reports", victim)
	}
}
