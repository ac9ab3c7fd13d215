package migrations

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// pgLockKey is the PostgreSQL advisory lock taken while migrating (advisory locks are per
// database, so databases on one server do not wait for each other).
const pgLockKey int64 = 0x6661637430726c // "fact0rl"

// Lock timing: how often a waiting process tries again, and how long it waits on SQLite
// before it reports a lock that may have been left by a process that died.
var (
	lockPoll       = 100 * time.Millisecond
	sqliteLockWait = 30 * time.Second
)

// ErrLocked is wrapped by Up's and Down's error when another process held the SQLite
// migration lock for too long.
var ErrLocked = errors.New("migrations are locked by another process")

// withLock creates bun's tables and runs fn while no other process migrates db.
//
// On PostgreSQL it holds a session advisory lock on a connection of its own: a second
// process waits for it (as long as ctx allows), and the lock dies with the session if the
// process does, so it is never left behind. bun's own lock (a row in bun_migration_locks)
// would fail the second process at once instead, and its CREATE TABLE IF NOT EXISTS races
// on PostgreSQL when two processes run it together.
//
// On SQLite, which has no session locks, it takes bun's lock row, trying again for up to
// sqliteLockWait; a row left by a process that died is cleared with Unlock (bin/migrate
// unlock).
func withLock(ctx context.Context, m *migrate.Migrator, fn func() error) error {
	db := m.DB()
	if db.Dialect().Name() == dialect.PG {
		return withPGLock(ctx, db, func() error {
			if err := m.Init(ctx); err != nil {
				return fmt.Errorf("create migration tables: %w", err)
			}
			return fn()
		})
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("create migration tables: %w", err)
	}
	if err := lockSQLite(ctx, m); err != nil {
		return err
	}
	defer func() { _ = m.Unlock(context.WithoutCancel(ctx)) }()
	return fn()
}

// withPGLock runs fn while holding the advisory lock pgLockKey.
func withPGLock(ctx context.Context, db *bun.DB, fn func() error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() { _ = conn.Close() }()
	for {
		var locked bool
		if err := conn.NewRaw("SELECT pg_try_advisory_lock(?)", pgLockKey).Scan(ctx, &locked); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if locked {
			break
		}
		if err := sleep(ctx, lockPoll); err != nil {
			return fmt.Errorf("migration lock: waiting for another process to finish migrating: %w", err)
		}
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", pgLockKey); err != nil {
			// Never hand a connection that may still hold the lock back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn()
}

// lockSQLite takes bun's migration lock, trying again until sqliteLockWait has passed.
func lockSQLite(ctx context.Context, m *migrate.Migrator) error {
	deadline := time.Now().Add(sqliteLockWait)
	for {
		err := m.Lock(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("migration lock: %w", ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (waited %s; if no migration is running, run bin/migrate unlock): %w",
				ErrLocked, sqliteLockWait, err)
		}
		if err := sleep(ctx, lockPoll); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
	}
}

// Unlock clears a SQLite migration lock left behind by a process that died while
// migrating. PostgreSQL needs nothing: its lock ends with the session.
func Unlock(ctx context.Context, db *bun.DB) error {
	if db.Dialect().Name() == dialect.PG {
		return nil
	}
	m, err := newMigrator(db)
	if err != nil {
		return err
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrate unlock: %w", err)
	}
	if err := m.Unlock(ctx); err != nil {
		return fmt.Errorf("migrate unlock: %w", err)
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
