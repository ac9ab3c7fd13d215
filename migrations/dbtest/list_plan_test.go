package dbtest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// A page of a rare status reads its own rows, not the table: a client asking for
// ?status=failed again and again, on a table of many rows and few failures, made each request
// walk the listing's index through every other row.
func TestListOfARareStatusReadsItsOwnRows(t *testing.T) {
	db := dbtest.Postgres(t)
	db.DB.SetMaxOpenConns(1) // one connection: the counters it reports
	records := database.NewFactorials(db)
	ctx := t.Context()
	var reqs []database.NewRequest
	for n := range int64(5_000) {
		reqs = append(reqs, database.NewRequest{Number: n})
	}
	if _, err := records.RequestBatch(ctx, reqs, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE factorials SET status = 'failed' WHERE number IN (7, 4000)`); err != nil {
		t.Fatal(err)
	}
	// What autovacuum does to a table that grew: without statistics the planner takes every
	// status for a handful of rows.
	if _, err := db.ExecContext(ctx, `ANALYZE factorials`); err != nil {
		t.Fatal(err)
	}
	read := func() int64 {
		t.Helper()
		if _, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
			FROM pg_stat_user_tables WHERE relname = 'factorials'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		statuses []database.Status
		want     int // rows in the page, and about as many read
	}{
		{[]database.Status{database.StatusFailed}, 2},
		{[]database.Status{database.StatusFailed, database.StatusCancelled}, 2},
		// A common status beside a rare one: a page of each, not every row of the common one.
		{[]database.Status{database.StatusPending, database.StatusFailed}, 50},
	} {
		before := read()
		const lists = 10
		for range lists {
			recs, err := records.List(ctx, database.ListQuery{Statuses: tc.statuses, Limit: 50})
			if err != nil || len(recs) != tc.want || (tc.want == 2 && !slices.Equal(inOrder(recs), []int64{4000, 7})) {
				t.Fatalf("List(%v) = %v, %v; want %d rows (4000 and 7 when 2)", tc.statuses, inOrder(recs), err, tc.want)
			}
		}
		// The counters reach the view when the connection has flushed them: wait a little.
		want := int64(tc.want * lists)
		var rows int64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if rows = read() - before; rows >= want {
				break
			}
		}
		if rows < want || rows > 3*want {
			t.Errorf("%d lists of %v read %d rows of a table of 5,000; want %d to %d", lists, tc.statuses, rows, want, 3*want)
		}
	}
}
