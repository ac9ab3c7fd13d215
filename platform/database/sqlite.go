package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver: no cgo
)

// sqlitePragmas are applied by the driver to every new connection:
//   - busy_timeout: another process (bin/migrate next to a running service) holding the write
//     lock makes a statement wait up to 10 s instead of failing with SQLITE_BUSY;
//   - journal_mode WAL: readers and the writer do not block each other;
//   - synchronous FULL: a committed request survives a power cut (the 2xx promise);
//   - foreign_keys: enforce them, as PostgreSQL does;
//   - wal_autocheckpoint 4000 pages (16 MiB, SQLite's default is 1000): a checkpoint runs on
//     the committing connection, the one writer, and syncs the WAL and the database file;
//     with the digits of small results in their rows, 1000 pages came every few hundred
//     results, and every POST queued behind them (make bench-load, embedded, interleaved
//     at load average 3: 1..10,000 in 5.5 to 5.8 s instead of 5.5 to 7.6 s, its POST p99 31
//     to 36 ms instead of 27 to 85; at load average 4 to 10, median 7.7 s instead of 14.9);
//   - _txlock=immediate: a transaction takes the write lock at BEGIN, so two processes never
//     deadlock upgrading read transactions.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)&_pragma=wal_autocheckpoint(4000)&_txlock=immediate"

// openSQLite opens the SQLite database named by raw (see Open) with modernc.org/sqlite.
//
// The pool holds a single connection: SQLite allows one writer at a time anyway, and one
// connection turns concurrent writers from many goroutines into a queue instead of
// SQLITE_BUSY errors (and keeps ":memory:" one database). The price: code must not hold a
// transaction open while it waits for another query on the same *bun.DB outside that
// transaction, or it waits for itself.
func openSQLite(ctx context.Context, raw string) (*bun.DB, error) {
	dsn, path, err := sqliteDSN(raw)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("DATABASE_URL %s: create the directory of the SQLite file: %w", raw, err)
		}
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: open SQLite: %w", raw, err)
	}
	sqldb.SetMaxOpenConns(1)
	sqldb.SetMaxIdleConns(1)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("DATABASE_URL %s: open SQLite: %w", raw, err)
	}
	return db, nil
}

// The reading connections of OpenReader: read-only (query_only), waiting like the writer
// for a lock held elsewhere (a checkpoint); the file is in WAL mode already (the writer set
// it, and it stays).
const (
	sqliteReaderPragmas = "_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=foreign_keys(1)"
	sqliteReaders       = 4
)

// OpenReader opens, for a SQLite file, a pool of read-only connections beside the single
// one of Open, for the reads that need not queue behind the writes (Factorials.ReadingFrom).
// In WAL mode readers neither wait for the writer nor hold it up, and each sees what was
// committed when its statement began; on the one connection of Open a GET's read waited for
// every statement queued before it, commits and their disk syncs included (measured under
// make bench-load: eight GETs waiting for the connection at any moment, on average). For
// PostgreSQL, whose pool serves reads and writes alike, and for an in-memory SQLite database
// (which another connection would not see), it returns nil. Open first: the file and its
// schema must exist.
func OpenReader(ctx context.Context, raw string) (*bun.DB, error) {
	if isPostgres(strings.TrimSpace(raw)) {
		return nil, nil
	}
	dsn, path, err := sqliteDSNWith(strings.TrimSpace(raw), sqliteReaderPragmas)
	if err != nil || path == "" {
		return nil, err
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: open SQLite for reading: %w", raw, err)
	}
	sqldb.SetMaxOpenConns(sqliteReaders)
	sqldb.SetMaxIdleConns(sqliteReaders)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("DATABASE_URL %s: open SQLite for reading: %w", raw, err)
	}
	return db, nil
}

// sqliteDSN turns a DATABASE_URL naming a SQLite file into the driver's DSN, with the
// connection settings appended to any query the URL carries. path is the file on disk, ""
// for an in-memory database.
//
//	data/factorial.db, /abs/factorial.db           a plain path
//	sqlite://data/factorial.db, sqlite:///abs/f.db the same, relative or absolute
//	sqlite:data/factorial.db                       the same
//	file:data/factorial.db?mode=rwc                a SQLite URI, passed on as it is
//	:memory:, sqlite://:memory:                    an in-memory database
func sqliteDSN(raw string) (dsn, path string, err error) {
	return sqliteDSNWith(raw, sqlitePragmas)
}

// sqliteDSNWith is sqliteDSN with the connection settings pragmas.
func sqliteDSNWith(raw, pragmas string) (dsn, path string, err error) {
	rest, query, _ := strings.Cut(raw, "?")
	uri := false
	switch lower := strings.ToLower(rest); {
	case strings.HasPrefix(lower, "sqlite://"):
		rest = rest[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		rest = rest[len("sqlite:"):]
	case strings.HasPrefix(lower, "file:"):
		uri = true
		rest = rest[len("file:"):]
	}
	if rest == "" {
		return "", "", fmt.Errorf("DATABASE_URL %q names no SQLite file: want a path such as data/factorial.db", raw)
	}
	if query != "" {
		query += "&"
	}
	query += pragmas

	if rest == ":memory:" || strings.Contains(query, "mode=memory") {
		// A plain ":memory:" or a memory URI: nothing on disk.
		if uri {
			return "file:" + rest + "?" + query, "", nil
		}
		return ":memory:?" + query, "", nil
	}
	if uri {
		// file:///abs/path and file://localhost/abs/path name /abs/path.
		switch path = rest; {
		case strings.HasPrefix(path, "//localhost/"):
			path = path[len("//localhost"):]
		case strings.HasPrefix(path, "///"):
			path = path[2:]
		}
		return "file:" + rest + "?" + query, path, nil
	}
	return rest + "?" + query, rest, nil
}

// relaxedSync runs fn on the writer's connection with, on SQLite, synchronous=NORMAL for what
// it commits: in the WAL, so a crash of the process loses none of it, but synced to disk only
// by the next commit made with synchronous=FULL (the WAL is one file, written in order, so that
// sync carries every commit before it) or by a checkpoint. For the calculator's small-lane
// claims and results and its announcement marks: a power cut that loses the last of them
// turns into a delay (the row is pending or computing again and the reconciler sends it to be
// computed, or a result is announced again), not a loss, while every request's record (a
// POST's 2xx) is still synced before its answer. Under make bench-load the single writer
// spent two thirds of its time in fsync, each POST's commit queued behind the syncs of the
// calculator's. The connection is set back to synchronous=FULL before it is released, or
// discarded if that fails: nothing else ever commits on it relaxed. On PostgreSQL fn gets the
// pool as it is.
func (f *Factorials) relaxedSync(ctx context.Context, fn func(db bun.IDB, raw sqlQuerier) error) (err error) {
	if f.db.Dialect().Name() != dialect.SQLite {
		return fn(f.db, f.db.DB)
	}
	conn, err := f.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer func() {
		if _, rerr := conn.Conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // closes it: never reused relaxed
			if err == nil {
				err = fmt.Errorf("set SQLite's synchronous back to FULL: %w", rerr)
			}
		}
	}()
	if _, err := conn.Conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return fmt.Errorf("set SQLite's synchronous to NORMAL: %w", err)
	}
	return fn(conn, conn.Conn)
}

// sqlQuerier runs a statement with its arguments bound by the driver (database/sql's, not
// bun's formatting).
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
