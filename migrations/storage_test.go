package migrations_test

import (
	"testing"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/migrations/dbtest"
)

// On PostgreSQL the digits kept in a row are stored without compression (EXTERNAL), and
// rolling back restores the default (EXTENDED).
func TestResultTextStoredWithoutCompression(t *testing.T) {
	ctx := t.Context()
	db := open(t, dbtest.EmptyPostgresURL(t))
	storage := func() string {
		t.Helper()
		var s string
		if err := db.NewRaw(`SELECT attstorage FROM pg_attribute
			WHERE attrelid = 'factorials'::regclass AND attname = 'result_text'`).Scan(ctx, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := migrations.UpTo(ctx, db, "20261201"); err != nil {
		t.Fatal(err)
	}
	if got := storage(); got != "x" {
		t.Fatalf("before the migration: storage %q, want x (EXTENDED)", got)
	}
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := storage(); got != "e" {
		t.Fatalf("after the migration: storage %q, want e (EXTERNAL)", got)
	}
	if err := migrations.Down(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := storage(); got != "x" {
		t.Fatalf("rolled back: storage %q, want x (EXTENDED)", got)
	}
}
