package dbtest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/database"
)

// With read-only connections beside it, a SQLite repository's reads do not wait for its one
// writing connection: a Get answers while a transaction holds that connection, and sees
// what was committed before it.
func TestSQLiteReadsDoNotQueueBehindWrites(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "factorial.db")
	db, err := database.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	reads, err := database.OpenReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reads.Close() })
	f := database.NewFactorials(db).ReadingFrom(reads)
	if _, _, err := f.Request(ctx, 5, at(0)); err != nil {
		t.Fatal(err)
	}

	tx, err := db.BeginTx(ctx, nil) // holds the writing connection
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "UPDATE factorials SET attempts = 9 WHERE number = 5"); err != nil {
		t.Fatal(err)
	}
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rec, err := f.Get(gctx, 5)
	if err != nil {
		t.Fatalf("Get while a write holds the connection: %v; want the record at once", err)
	}
	if rec.Status != database.StatusPending || rec.Attempts != 0 {
		t.Fatalf("Get = %+v; want the committed pending record, not the transaction's", rec)
	}
	recs, err := f.GetMany(gctx, []int64{5})
	if err != nil || len(recs) != 1 {
		t.Fatalf("GetMany while a write holds the connection: %v, %v", recs, err)
	}
}
