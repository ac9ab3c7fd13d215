package migrations_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/database"
)

// The migration that adds the status cancelled (a CHECK constraint PostgreSQL alters and
// SQLite rebuilds its table for) keeps every row and index of a database an older release
// filled, allows cancelled only after it, and rolls back to a schema the older release reads.
func TestCancelledMigrationKeepsRows(t *testing.T) {
	for _, b := range emptyDatabases {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t, b.url(t))
			// The schema the code of this release reads, but for the migrations after it.
			if err := migrations.UpTo(ctx, db, "20261127_unannounced_flag"); err != nil {
				t.Fatal(err)
			}
			f := database.NewFactorials(db)
			t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			for n := int64(1); n <= 4; n++ {
				if _, _, err := f.Request(ctx, n, t0); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range []int64{2, 3, 4} {
				if _, ok, err := f.Claim(ctx, n, "w1", t0.Add(time.Second), t0); err != nil || !ok {
					t.Fatalf("claim %d: %v %v", n, ok, err)
				}
			}
			if _, err := f.CompleteBatch(ctx, "w1", []database.Completion{{Number: 3, Result: database.Result{
				Checksum: "c3", Size: 1, Digits: 1, Text: "6"}}}, t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Fail(ctx, 4, "w1", "boom", t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			before := rows(t, f)
			wantCancelAllowed(t, db, false)

			if err := migrations.Up(ctx, db); err != nil {
				t.Fatal(err)
			}
			if after := rows(t, f); !slices.EqualFunc(before, after, sameRecord) {
				t.Fatalf("rows changed by the migration:\nbefore %+v\nafter  %+v", before, after)
			}
			for _, idx := range []string{"factorials_pending_idx", "factorials_computing_idx", "factorials_owed_idx",
				"factorials_queued_client_idx", "factorials_created_idx"} {
				if !slices.Contains(indexes(t, db), idx) {
					t.Errorf("index %s missing after the migration (have %v)", idx, indexes(t, db))
				}
			}
			if _, ok, err := f.Cancel(ctx, 1, t0.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("cancel after the migration: %v %v", ok, err)
			}
			wantCancelAllowed(t, db, true)

			if err := migrations.Down(ctx, db); err != nil {
				t.Fatal(err)
			}
			rec, err := f.Get(ctx, 1)
			if err != nil || rec.Status != database.StatusFailed || rec.Error != "cancelled" {
				t.Fatalf("a cancelled row after rolling back: %+v %v; want failed, error cancelled", rec, err)
			}
			wantCancelAllowed(t, db, false)
			if slices.Contains(indexes(t, db), "factorials_created_idx") {
				t.Error("factorials_created_idx left after rolling back")
			}
			if err := migrations.Up(ctx, db); err != nil {
				t.Fatal(err)
			}
			wantCancelAllowed(t, db, true)
		})
	}
}

func rows(t *testing.T, f *database.Factorials) []database.Record {
	t.Helper()
	var recs []database.Record
	for n := int64(1); n <= 4; n++ {
		rec, err := f.Get(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func sameRecord(a, b database.Record) bool {
	return a.Number == b.Number && a.Status == b.Status && a.Attempts == b.Attempts && a.Text == b.Text &&
		a.Checksum == b.Checksum && a.Error == b.Error && a.Worker == b.Worker && a.CostUS == b.CostUS &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.RequestedAt.Equal(b.RequestedAt)
}

// wantCancelAllowed checks whether the status CHECK lets a row be cancelled.
func wantCancelAllowed(t *testing.T, db *bun.DB, want bool) {
	t.Helper()
	_, err := db.NewRaw(`INSERT INTO factorials (number, status, created_at, updated_at, requested_at)
		VALUES (99, 'cancelled', ?, ?, ?)`, time.Now(), time.Now(), time.Now()).Exec(t.Context())
	if got := err == nil; got != want {
		t.Fatalf("inserting a cancelled row: err %v, want allowed=%v", err, want)
	}
	if err == nil {
		if _, err := db.NewRaw(`DELETE FROM factorials WHERE number = 99`).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
	} else if !strings.Contains(strings.ToLower(err.Error()), "check") {
		t.Fatalf("inserting a cancelled row failed for another reason than the CHECK: %v", err)
	}
}

func indexes(t *testing.T, db *bun.DB) []string {
	t.Helper()
	var names []string
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'factorials'`
	if db.Dialect().Name() == dialect.PG {
		q = `SELECT indexname FROM pg_indexes WHERE tablename = 'factorials' AND schemaname = current_schema()`
	}
	if err := db.NewRaw(q).Scan(t.Context(), &names); err != nil {
		t.Fatal(err)
	}
	return names
}
