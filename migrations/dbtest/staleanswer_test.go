package dbtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
)

// A prepared statement abandoned at its deadline (the API waits 1 s for the database) is
// still answered by PostgreSQL once it runs: that answer must never be read as the answer to
// the next statement on the connection. It was: pgdriver keeps a connection whose prepared
// statement timed out, and after a black hole under load the API answered POSTs with 500s
// ("the row vanished", "newRows: unexpected message '2'"), each statement reading its
// predecessor's rows, another number's.
func TestAbandonedStatementLeavesNoAnswerBehind(t *testing.T) {
	u := PostgresURL(t)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := database.Open(ctx, u+sep+"pool_max_conns=1") // one connection: every statement on it
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	locker, err := database.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	f := database.NewFactorials(db)
	if _, err := f.RequestBatch(ctx, []database.NewRequest{{Number: 1}, {Number: 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}

	tx, err := locker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE factorials SET progress = 0 WHERE number = 1`); err != nil {
		t.Fatal(err)
	}
	// The claim of 1 waits for the lock past its deadline, and is answered once it is freed.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = f.ClaimBatch(short, []int64{1}, "w", time.Now(), time.Now().Add(-time.Minute))
	stop()
	if err == nil {
		t.Fatal("a claim waiting for a lock answered before its deadline")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the abandoned claim's answer is on its way back

	for i := range 3 {
		recs, err := f.GetMany(ctx, []int64{2})
		if err != nil || len(recs) != 1 || recs[0].Number != 2 {
			var got []int64
			for _, r := range recs {
				got = append(got, r.Number)
			}
			t.Fatalf("GetMany(2), statement %d after the abandoned one: numbers %v, err %v; want 2's record", i+1, got, err)
		}
	}
}
