package migrations_test

import (
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/database"
)

// The migration to the flag unannounced keeps the outbox: a result an older release left
// owed (announced_at NULL) is owed after it, one it announced is not; rolling back gives the
// older release's announced_at again, NULL for what is owed.
func TestUnannouncedFlagMigrationKeepsTheOutbox(t *testing.T) {
	for _, b := range emptyDatabases {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t, b.url(t))
			if err := migrations.UpTo(ctx, db, "20261126_lanes_and_outbox"); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			// 1 owed, 2 announced, 3 pending: as the older release wrote them.
			for _, r := range []struct {
				n         int64
				status    string
				announced any
			}{{1, "done", nil}, {2, "done", t0.Add(time.Minute)}, {3, "pending", nil}} {
				computed := any(nil)
				if r.status == "done" {
					computed = t0
				}
				if _, err := db.NewRaw(`INSERT INTO factorials (number, status, attempts, progress, "key", bucket, checksum,
						size, digits, compute_ms, error, worker, result_text, created_at, updated_at, requested_at,
						computed_at, announced_at)
					VALUES (?, ?, 1, 0, '', '', '', 1, 1, 0, '', '', '1', ?, ?, ?, ?, ?)`,
					r.n, r.status, t0, t0, t0, computed, r.announced).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := migrations.UpTo(ctx, db, "20261127_unannounced_flag"); err != nil {
				t.Fatal(err)
			}
			f := database.NewFactorials(db)
			owed, err := f.Unannounced(ctx, t0.Add(time.Hour), 10)
			if err != nil || len(owed) != 1 || owed[0].Number != 1 || !owed[0].Unannounced {
				t.Fatalf("owed after the migration: %+v %v; want 1 alone", owed, err)
			}
			if err := f.MarkAnnounced(ctx, []int64{1}, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			// 3 is computed by this release: owed until marked.
			if _, ok, err := f.Claim(ctx, 3, "w", t0.Add(time.Second), t0); err != nil || !ok {
				t.Fatalf("claim 3: %v %v", ok, err)
			}
			if _, err := f.CompleteBatch(ctx, "w", []database.Completion{{Number: 3, Result: database.Result{
				Checksum: "c", Size: 1, Digits: 1, Text: "6"}}}, t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}

			// Rolled back (the flag's migration alone): 1 and 2 announced, 3 owed.
			if err := migrations.Down(ctx, db); err != nil {
				t.Fatal(err)
			}
			var got []struct {
				Number      int64      `bun:"number"`
				AnnouncedAt *time.Time `bun:"announced_at"`
			}
			if err := db.NewRaw(`SELECT number, announced_at FROM factorials ORDER BY number`).Scan(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].AnnouncedAt == nil || got[1].AnnouncedAt == nil || got[2].AnnouncedAt != nil {
				t.Errorf("announced_at after rolling back: %+v; want 1 and 2 set, 3 NULL", got)
			}
		})
	}
}
