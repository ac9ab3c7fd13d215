package database

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun"
)

// TestRelaxedSyncGoesBackToFull: the calculator's statements commit with SQLite's
// synchronous=NORMAL, and the writer's connection is FULL again afterwards whatever fn did
// (returned an error, had its context cancelled), so a request's commit is always synced
// before its answer.
func TestRelaxedSyncGoesBackToFull(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "relaxed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f := NewFactorials(db)
	synchronous := func(ctx context.Context, db bun.IDB) string {
		t.Helper()
		var v string
		if err := db.NewRaw("PRAGMA synchronous").Scan(ctx, &v); err != nil {
			t.Fatalf("PRAGMA synchronous: %v", err)
		}
		return v
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		fnErr   error
		cancels bool
	}{
		{"fn succeeds", nil, false},
		{"fn fails", boom, false},
		{"fn's context is cancelled", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := f.relaxedSync(ctx, func(db bun.IDB, _ sqlQuerier) error {
				if got := synchronous(ctx, db); got != "1" {
					t.Errorf("synchronous inside = %s, want 1 (NORMAL)", got)
				}
				if tc.cancels {
					cancel()
				}
				return tc.fnErr
			})
			if !errors.Is(err, tc.fnErr) {
				t.Errorf("err = %v, want %v", err, tc.fnErr)
			}
			if got := synchronous(t.Context(), f.db); got != "2" {
				t.Errorf("synchronous after = %s, want 2 (FULL)", got)
			}
		})
	}
}
