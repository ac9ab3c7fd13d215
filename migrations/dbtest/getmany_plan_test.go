package dbtest_test

import (
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// GetMany's prepared statement, planned for good on a new (empty) table, still looks the
// numbers up in the primary key once the table has grown: no sequential scan of every row
// for each batch of GETs (the plan it had was one, kept until the table was analyzed).
func TestGetManyUsesTheIndexOnAGrownTable(t *testing.T) {
	db := dbtest.Postgres(t)
	db.DB.SetMaxOpenConns(1) // one connection: its statement, and the counters it reports
	records := database.NewFactorials(db)
	ctx := t.Context()
	for range 8 { // PostgreSQL plans a prepared statement for good after five runs
		if _, err := records.GetMany(ctx, []int64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []database.NewRequest
	for n := range int64(5_000) {
		reqs = append(reqs, database.NewRequest{Number: n})
	}
	if _, err := records.RequestBatch(ctx, reqs, time.Now()); err != nil {
		t.Fatal(err)
	}
	scans := func() (seq, idx int64) {
		t.Helper()
		if _, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0)
			FROM pg_stat_user_tables WHERE relname = 'factorials'`).Scan(&seq, &idx); err != nil {
			t.Fatal(err)
		}
		return seq, idx
	}
	seq0, idx0 := scans()
	const reads = 20
	for i := range int64(reads) {
		recs, err := records.GetMany(ctx, []int64{i, i + 100, i + 1000, i, 99_999})
		if err != nil || len(recs) != 3 {
			t.Fatalf("GetMany: %d records (want 3: a repeated number once, a missing one left out), %v", len(recs), err)
		}
	}
	// The counters reach the view when the connection has flushed them: wait a little.
	var seq, idx int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if seq, idx = scans(); idx-idx0 >= reads {
			break
		}
	}
	if seq != seq0 || idx-idx0 < reads {
		t.Fatalf("%d reads of a grown table: %d sequential scans and %d index scans, want none and at least %d",
			reads, seq-seq0, idx-idx0, reads)
	}
}
