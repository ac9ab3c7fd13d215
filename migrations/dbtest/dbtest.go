// Package dbtest gives tests a fresh, migrated database: SQLite in a temporary file, or
// PostgreSQL in a new database with a random name on the server named by TEST_POSTGRES_URL
// (skipped when it is unset, failed under TEST_REQUIRE_SERVERS=1; see platform/testenv).
// Everything is closed and dropped when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/testenv"
)

// setupTimeout bounds creating, migrating and dropping a test database.
const setupTimeout = 30 * time.Second

// SQLite returns a migrated SQLite database in a temporary file.
func SQLite(t testing.TB) *bun.DB {
	t.Helper()
	db := open(t, filepath.Join(t.TempDir(), "factorial.db"))
	migrate(t, db)
	return db
}

// Postgres returns a migrated PostgreSQL database of its own, dropped when the test ends.
func Postgres(t testing.TB) *bun.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

// PostgresURL returns the URL of a migrated PostgreSQL database of its own, dropped when
// the test ends: for tests that start processes.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := EmptyPostgresURL(t)
	db := open(t, u)
	migrate(t, db)
	if err := db.Close(); err != nil {
		t.Fatalf("dbtest: close %s: %v", u, err)
	}
	return u
}

// EmptyPostgresURL returns the URL of a new PostgreSQL database with no tables, dropped
// when the test ends: for tests of migrations and of programs that migrate at start.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	server := testenv.URL(t, testenv.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := database.Open(ctx, server)
	if err != nil {
		testenv.Unreachable(t, testenv.Postgres, err)
	}
	defer func() { _ = admin.Close() }()

	name := "test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, server, name) })

	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", testenv.Postgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Each runs test once per database, as subtests "sqlite", "sqlite-readers" (SQLite whose
// reads go to read-only connections of their own, database.OpenReader) and "postgres", each
// with a fresh migrated database: for contract suites, which build their repository with
// Factorials.
func Each(t *testing.T, test func(t *testing.T, db *bun.DB)) {
	t.Helper()
	for _, b := range []struct {
		name string
		open func(testing.TB) *bun.DB
	}{{"sqlite", SQLite}, {"sqlite-readers", sqliteWithReaders}, {"postgres", Postgres}} {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

// readers are the read-only pools of the databases sqliteWithReaders opened.
var readers sync.Map // *bun.DB -> *bun.DB

// sqliteWithReaders is SQLite with read-only connections beside (see Factorials).
func sqliteWithReaders(t testing.TB) *bun.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "factorial.db")
	db := open(t, path)
	migrate(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	r, err := database.OpenReader(ctx, path)
	if err != nil || r == nil {
		t.Fatalf("dbtest: open the readers of %s: %v", path, err)
	}
	readers.Store(db, r)
	t.Cleanup(func() { readers.Delete(db); _ = r.Close() })
	return db
}

// Factorials is the repository over db, reading from its read-only connections when Each
// opened it with some.
func Factorials(db *bun.DB) *database.Factorials {
	f := database.NewFactorials(db)
	if r, ok := readers.Load(db); ok {
		f.ReadingFrom(r.(*bun.DB))
	}
	return f
}

// drop removes the database name, closing what is still connected to it.
func drop(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := database.Open(ctx, server)
	if err != nil {
		t.Errorf("dbtest: drop database %s: %v", name, err)
		return
	}
	defer func() { _ = admin.Close() }()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("dbtest: drop database %s: %v", name, err)
	}
}

// open opens rawURL and closes it when the test ends.
func open(t testing.TB, rawURL string) *bun.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	db, err := database.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrate applies every migration to db.
func migrate(t testing.TB, db *bun.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
