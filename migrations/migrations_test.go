package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

const first = "20261124_create_factorials"

// allNames lists every embedded migration.
func allNames(t *testing.T) []string {
	t.Helper()
	names, err := migrations.Names()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// emptyDatabases returns, per backend, a function giving the URL of a new empty database.
var emptyDatabases = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "m.db") }},
	{"postgres", func(t *testing.T) string { return dbtest.EmptyPostgresURL(t) }},
}

func TestUpDownUp(t *testing.T) {
	for _, b := range emptyDatabases {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t, b.url(t))

			all := allNames(t)
			wantSchema(t, db, false, nil, all)
			err := migrations.Check(ctx, db)
			if want := fmt.Sprintf("database schema is behind: %d migrations not applied (%s); run bin/migrate up", len(all), strings.Join(all, ", ")); !errors.Is(err, migrations.ErrSchemaBehind) || err.Error() != want {
				t.Fatalf("Check on an empty database = %v, want %q", err, want)
			}

			for _, step := range []struct {
				name       string
				do         func(context.Context, *bun.DB) error
				wantTable  bool
				wantBehind bool
			}{
				{"up applies every migration", migrations.Up, true, false},
				{"up again changes nothing", migrations.Up, true, false},
				{"down rolls the group back", migrations.Down, false, true},
				{"down again changes nothing", migrations.Down, false, true},
				{"up applies them again", migrations.Up, true, false},
			} {
				if err := step.do(ctx, db); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				applied, pending := all, []string(nil)
				if step.wantBehind {
					applied, pending = nil, all
				}
				wantSchema(t, db, step.wantTable, applied, pending)
				if err := migrations.Check(ctx, db); errors.Is(err, migrations.ErrSchemaBehind) != step.wantBehind {
					t.Fatalf("%s: Check = %v, want behind=%v", step.name, err, step.wantBehind)
				}
			}
		})
	}
}

// TestConcurrentUp runs Up from several pools at once, as several processes starting
// together would: every one succeeds and each migration is applied once.
func TestConcurrentUp(t *testing.T) {
	for _, b := range emptyDatabases {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			const processes = 4
			var dbs []*bun.DB
			for range processes {
				dbs = append(dbs, open(t, url))
			}
			var wg sync.WaitGroup
			for _, db := range dbs {
				wg.Go(func() {
					if err := migrations.Up(t.Context(), db); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			var rows int
			if err := dbs[0].NewRaw("SELECT count(*) FROM bun_migrations").Scan(t.Context(), &rows); err != nil {
				t.Fatal(err)
			}
			all := allNames(t)
			if rows != len(all) {
				t.Fatalf("bun_migrations has %d rows, want %d", rows, len(all))
			}
			wantSchema(t, dbs[0], true, all, nil)
		})
	}
}

// TestSQLiteStaleLock: a lock left by a process that died makes Up fail with ErrLocked
// after the wait, and Unlock clears it.
func TestSQLiteStaleLock(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "m.db"))
	restore := migrations.SetSQLiteLockWait(300 * time.Millisecond)
	t.Cleanup(restore)
	dead := migrate.NewMigrator(db, migrate.NewMigrations()) // a process that dies holding the lock
	if err := dead.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dead.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db); !errors.Is(err, migrations.ErrLocked) {
		t.Fatalf("Up with a stale lock = %v, want ErrLocked", err)
	}
	if err := migrations.Unlock(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatalf("Up after Unlock: %v", err)
	}
}

func TestUpStopsWhenContextEnds(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := migrations.Up(ctx, db); !errors.Is(err, context.Canceled) {
		t.Fatalf("Up with a canceled context = %v, want context.Canceled", err)
	}
}

func TestNames(t *testing.T) {
	names, err := migrations.Names()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 || names[0] != first || !slices.IsSorted(names) {
		t.Fatalf("Names = %v, want sorted, starting with %s", names, first)
	}
}

// wantSchema checks Status and whether the factorials table is there and matches Record.
func wantSchema(t *testing.T, db *bun.DB, wantTable bool, wantApplied, wantPending []string) {
	t.Helper()
	applied, pending, err := migrations.Status(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, wantApplied) || !slices.Equal(pending, wantPending) {
		t.Fatalf("Status = applied %v pending %v, want applied %v pending %v", applied, pending, wantApplied, wantPending)
	}
	// Get answers ErrNotFound from an existing table, another error without one.
	_, err = database.NewFactorials(db).Get(t.Context(), 1)
	if gotTable := errors.Is(err, database.ErrNotFound); gotTable != wantTable {
		t.Fatalf("factorials table present = %v (Get: %v), want %v", gotTable, err, wantTable)
	}
}

func open(t *testing.T, url string) *bun.DB {
	t.Helper()
	db, err := database.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
