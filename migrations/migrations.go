// Package migrations holds the service's SQL migrations, embedded, and runs them with
// bun/migrate. One set of files serves PostgreSQL and SQLite.
//
// A migration that one SQL text cannot say for both databases is written in Go
// (goMigrations).
//
// bin/migrate (cmd/migrate) runs them from the command line; services call Up at start (the
// embedded profile) or Check (the distributed one, where a one-shot migrate job runs first).
// Up and Down take a lock, so any number of processes may call them at once.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"

	"github.com/factorial-service/factorial/platform/database"
)

//go:embed sql/*.sql
var files embed.FS

// ErrSchemaBehind is wrapped by Check's error when migrations are not applied yet.
var ErrSchemaBehind = errors.New("database schema is behind")

// table is bun's bookkeeping table of applied migrations.
const table = "bun_migrations"

// Up applies every pending migration, as one group (the unit of Down). Nothing pending is no
// error. Concurrent calls from several processes apply each migration once.
func Up(ctx context.Context, db *bun.DB) error {
	m, err := newMigrator(db)
	if err != nil {
		return err
	}
	return withLock(ctx, m, func() error {
		if _, err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		return nil
	})
}

// Down rolls back the last group of applied migrations. Nothing applied is no error.
func Down(ctx context.Context, db *bun.DB) error {
	m, err := newMigrator(db)
	if err != nil {
		return err
	}
	return withLock(ctx, m, func() error {
		if _, err := m.Rollback(ctx); err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		return nil
	})
}

// Status lists the migrations applied to db and those pending, oldest first, by name
// (such as "20261124_create_factorials"). It only reads: a database never migrated has
// every migration pending. Migrations applied by a newer release, unknown to this one, are
// not listed.
func Status(ctx context.Context, db *bun.DB) (applied, pending []string, err error) {
	exists, err := tableExists(ctx, db, table)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate status: %w", err)
	}
	if !exists {
		pending, err := Names()
		return nil, pending, err
	}
	m, err := newMigrator(db)
	if err != nil {
		return nil, nil, err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate status: %w", err)
	}
	for _, mig := range ms {
		if mig.IsApplied() {
			applied = append(applied, mig.String())
		} else {
			pending = append(pending, mig.String())
		}
	}
	return applied, pending, nil
}

// Check returns an error wrapping ErrSchemaBehind when migrations are pending, such as
// "database schema is behind: 1 migration not applied (20261124_create_factorials); run
// bin/migrate up". Services that do not migrate themselves call it at start.
func Check(ctx context.Context, db *bun.DB) error {
	_, pending, err := Status(ctx, db)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	noun := "migrations"
	if len(pending) == 1 {
		noun = "migration"
	}
	return fmt.Errorf("%w: %d %s not applied (%s); run bin/migrate up",
		ErrSchemaBehind, len(pending), noun, strings.Join(pending, ", "))
}

// OpenCurrent opens the database at url (DATABASE_URL) and checks its schema is up to date:
// what the services that do not migrate by themselves do at start.
func OpenCurrent(ctx context.Context, url string) (*bun.DB, error) {
	db, err := database.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := Check(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// newMigrator returns a migrator of the embedded migrations over db. A migration is marked
// applied only once it has succeeded (bun's default marks it first).
func newMigrator(db *bun.DB) (*migrate.Migrator, error) {
	ms, err := embedded()
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(db, ms, migrate.WithTableName(table), migrate.WithMarkAppliedOnSuccess(true)), nil
}

// embedded returns the migrations embedded from sql/, and those written in Go (goMigrations).
func embedded() (*migrate.Migrations, error) {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	for _, m := range goMigrations {
		ms.Add(m)
	}
	return ms, nil
}

// Names lists the embedded migrations, oldest first.
func Names() ([]string, error) {
	ms, err := embedded()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms.Sorted() {
		names = append(names, m.String())
	}
	return names, nil
}

// tableExists reports whether db has a table called name (in the current schema).
func tableExists(ctx context.Context, db *bun.DB, name string) (bool, error) {
	var n int
	var err error
	switch db.Dialect().Name() {
	case dialect.PG:
		err = db.NewRaw(`SELECT count(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = ?`, name).Scan(ctx, &n)
	case dialect.SQLite:
		err = db.NewRaw(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(ctx, &n)
	default:
		return false, fmt.Errorf("unsupported database %s", db.Dialect().Name())
	}
	if err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}
