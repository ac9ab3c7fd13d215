package migrations

import (
	"context"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// SetSQLiteLockWait sets how long Up and Down wait for a SQLite migration lock, and returns
// a function that restores it.
func SetSQLiteLockWait(d time.Duration) (restore func()) {
	old := sqliteLockWait
	sqliteLockWait = d
	return func() { sqliteLockWait = old }
}

// UpTo applies the embedded migrations up to and including the one named last, as one
// group: a database as an older release left it.
func UpTo(ctx context.Context, db *bun.DB, last string) error {
	all, err := embedded()
	if err != nil {
		return err
	}
	ms := migrate.NewMigrations()
	for _, m := range all.Sorted() {
		if m.String() <= last {
			ms.Add(m)
		}
	}
	m := migrate.NewMigrator(db, ms, migrate.WithTableName(table), migrate.WithMarkAppliedOnSuccess(true))
	return withLock(ctx, m, func() error {
		_, err := m.Migrate(ctx)
		return err
	})
}
