package database_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/testenv"
)

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      string // in the error, besides DATABASE_URL
	}{
		{"empty is an error", "  ", "empty"},
		{"unknown scheme is an error", "mysql://u:secret@db/x", `unsupported scheme "mysql"`},
		{"postgres without host is an error", "postgres://u:secret@/db", "no host"},
		{"postgres URL that does not parse is an error", "postgres://u:secret@db:port/x", "not a valid URL"},
		{"postgres with an empty user is an error, not a panic", "postgres://:secret@127.0.0.1:1/db", "user is empty"},
		{"unreachable postgres is an error", "postgres://u:secret@127.0.0.1:1/db?sslmode=disable", "connect to PostgreSQL"},
		{"unsupported sslmode is an error", "postgres://u:secret@127.0.0.1:1/db?sslmode=sometimes", "sslmode"},
		{"a pool size that is not a number is an error", "postgres://u:secret@127.0.0.1:1/db?pool_max_conns=lots", "pool_max_conns"},
		{"a pool of no connection is an error", "postgres://u:secret@127.0.0.1:1/db?pool_max_conns=0", "pool_max_conns"},
		{"SQLite file in a directory that cannot be made is an error", "/proc/no/such/dir/f.db", "create the directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			db, err := database.Open(ctx, tc.url)
			if err == nil {
				_ = db.Close()
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "DATABASE_URL") || !strings.Contains(msg, tc.want) {
				t.Fatalf("err = %q, want one naming DATABASE_URL with %q", msg, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Fatalf("err = %q shows the password", msg)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, url, file string
	}{
		{"plain path creates the file and its directories", filepath.Join(dir, "a/b/plain.db"), filepath.Join(dir, "a/b/plain.db")},
		{"sqlite:// prefix", "sqlite://" + filepath.Join(dir, "c/prefixed.db"), filepath.Join(dir, "c/prefixed.db")},
		{"file: URI", "file:" + filepath.Join(dir, "d/uri.db") + "?mode=rwc", filepath.Join(dir, "d/uri.db")},
		{"in memory", ":memory:", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := database.Open(t.Context(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			if db.Dialect().Name() != dialect.SQLite {
				t.Fatalf("dialect = %s, want sqlite", db.Dialect().Name())
			}
			if tc.file != "" {
				if _, err := os.Stat(tc.file); err != nil {
					t.Fatalf("database file: %v", err)
				}
				if got := pragma(t, db, "journal_mode"); got != "wal" {
					t.Errorf("journal_mode = %s, want wal", got)
				}
			}
			for name, want := range map[string]string{"foreign_keys": "1", "busy_timeout": "10000", "synchronous": "2", "wal_autocheckpoint": "4000"} {
				if got := pragma(t, db, name); got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
		})
	}
}

// TestSQLiteConcurrentWriters checks that many goroutines writing at once never see
// SQLITE_BUSY ("database is locked"), transactions included.
func TestSQLiteConcurrentWriters(t *testing.T) {
	db, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "INSERT INTO counter VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	const writers = 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			err := db.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
				var n int
				if err := tx.NewRaw("SELECT n FROM counter WHERE id = 1").Scan(ctx, &n); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, "UPDATE counter SET n = ? WHERE id = 1", n+1)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.NewRaw("SELECT n FROM counter WHERE id = 1").Scan(t.Context(), &n); err != nil {
		t.Fatal(err)
	}
	if n != writers {
		t.Fatalf("counter = %d, want %d (lost updates)", n, writers)
	}
}

// TestTimeOrder checks that comparing and sorting times in SQL follows time order, with
// times a microsecond to a second apart: on SQLite bun stores them as text, with the
// trailing zeros of the fraction cut.
func TestTimeOrder(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "t.db") },
		"postgres": func(t *testing.T) string { return testenv.URL(t, testenv.Postgres) },
	}
	base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{0, time.Microsecond, 10 * time.Microsecond, 100 * time.Millisecond,
		250 * time.Millisecond, 500 * time.Millisecond, 500*time.Millisecond + time.Microsecond, time.Second,
		time.Second + 5*time.Millisecond, 9 * time.Second, 10 * time.Second, time.Minute} {
		times = append(times, base.Add(d))
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			db, err := database.Open(t.Context(), url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			// A table of its own (not TEMP: a pool's queries may run on several connections).
			table := fmt.Sprintf("time_order_%d", rand.Uint64())
			ctx := t.Context()
			if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (i INTEGER, at TIMESTAMPTZ)"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP TABLE "+table) })
			for _, i := range rand.Perm(len(times)) {
				// Inserted in another zone: stored in UTC all the same.
				at := times[i].In(time.FixedZone("X", -7*3600))
				if _, err := db.NewRaw("INSERT INTO "+table+" VALUES (?, ?)", i, at).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var sorted []int
			if err := db.NewRaw("SELECT i FROM "+table+" ORDER BY at").Scan(ctx, &sorted); err != nil {
				t.Fatal(err)
			}
			if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(sorted, want) {
				t.Fatalf("ORDER BY at = %v, want %v", sorted, want)
			}
			for i, cut := range times {
				var before []int
				if err := db.NewRaw("SELECT i FROM "+table+" WHERE at < ? ORDER BY i", cut).Scan(ctx, &before); err != nil {
					t.Fatal(err)
				}
				if len(before) != i {
					t.Fatalf("at < %s: %v, want the %d earlier", cut.Format(time.RFC3339Nano), before, i)
				}
			}
		})
	}
}

func TestRecordJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b, err := json.Marshal(database.Record{Number: 5, Status: database.StatusDone, ComputeMS: 2, ComputedAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"number":5`, `"status":"done"`, `"compute_ms":2`, `"computed_at":"2026-11-24T12:00:00Z"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON %s lacks %s", s, want)
		}
	}
	for _, unwanted := range []string{"started_at", "heartbeat_at", "BaseModel"} {
		if strings.Contains(s, unwanted) {
			t.Errorf("JSON %s has %s", s, unwanted)
		}
	}
}

func TestStatusValid(t *testing.T) {
	for _, s := range []database.Status{database.StatusPending, database.StatusComputing, database.StatusDone, database.StatusFailed} {
		if !s.Valid() {
			t.Errorf("%s is not valid", s)
		}
	}
	if database.Status("lost").Valid() {
		t.Error(`"lost" is valid`)
	}
}

func pragma(t *testing.T, db *bun.DB, name string) string {
	t.Helper()
	var v string
	if err := db.NewRaw("PRAGMA "+name).Scan(t.Context(), &v); err != nil {
		t.Fatalf("pragma %s: %v", name, err)
	}
	return v
}

// TestOpenHintsAtSSLModeForServerWithoutTLS talks to a fake server that refuses TLS, as
// the official postgres image does by default.
func TestOpenHintsAtSSLModeForServerWithoutTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.ReadFull(c, make([]byte, 8)) // SSLRequest
			_, _ = c.Write([]byte{'N'})
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = database.Open(ctx, "postgres://u@"+ln.Addr().String()+"/db")
	if err == nil || !strings.Contains(err.Error(), "add ?sslmode=disable to DATABASE_URL") {
		t.Fatalf("err = %v, want a hint at sslmode=disable", err)
	}
}

// TestPostgresPoolKeepsItsConnections: after a burst of queries, the pool keeps the
// connections it opened (up to its bound) instead of closing all but two, as database/sql
// does by default; the next burst opens none. pool_max_conns in the URL sets the bound and
// is not sent to the server (which would refuse an unknown setting).
func TestPostgresPoolKeepsItsConnections(t *testing.T) {
	url := testenv.URL(t, testenv.Postgres)
	for _, tc := range []struct {
		name  string
		param string
		want  int
	}{
		{"the default bound", "", 16},
		{"pool_max_conns", "pool_max_conns=4", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := url
			if tc.param != "" {
				sep := "?"
				if strings.Contains(u, "?") {
					sep = "&"
				}
				u += sep + tc.param
			}
			db, err := database.Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			burst := func() {
				var wg sync.WaitGroup
				for range 2 * tc.want {
					wg.Go(func() {
						if _, err := db.ExecContext(t.Context(), "SELECT pg_sleep(0.05)"); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			burst()
			st := db.Stats()
			if st.MaxOpenConnections != tc.want || st.OpenConnections != tc.want || st.Idle != tc.want {
				t.Fatalf("after a burst of %d queries: max open %d, open %d, idle %d; want %d of each",
					2*tc.want, st.MaxOpenConnections, st.OpenConnections, st.Idle, tc.want)
			}
			burst()
			if again := db.Stats(); again.MaxIdleClosed != 0 || again.OpenConnections != tc.want {
				t.Fatalf("the second burst closed %d idle connections and left %d open; want none closed, %d open",
					again.MaxIdleClosed, again.OpenConnections, tc.want)
			}
		})
	}
}

// OpenReader opens read-only connections for a SQLite file, and nothing for an in-memory
// database (another connection would not see it) or for PostgreSQL (its pool serves reads).
func TestOpenReader(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := database.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (i INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	r, err := database.OpenReader(ctx, path)
	if err != nil || r == nil {
		t.Fatalf("OpenReader(%s) = %v, %v; want a pool", path, r, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	var i int
	if err := r.NewRaw("SELECT i FROM t").Scan(ctx, &i); err != nil || i != 7 {
		t.Fatalf("read through the reader: %d, %v; want 7", i, err)
	}
	if _, err := r.ExecContext(ctx, "INSERT INTO t VALUES (8)"); err == nil {
		t.Fatal("the reader wrote; want it read-only")
	}
	for _, url := range []string{":memory:", "sqlite://:memory:", "postgres://u@127.0.0.1:1/db?sslmode=disable"} {
		if r, err := database.OpenReader(ctx, url); r != nil || err != nil {
			t.Errorf("OpenReader(%s) = %v, %v; want nil, nil", url, r, err)
		}
	}
}
