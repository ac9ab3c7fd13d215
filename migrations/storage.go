package migrations

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// resultTextExternal stores the digits of small results (result_text) out of line without
// trying to compress them. PostgreSQL's default for text (EXTENDED) runs pglz over every
// value above 2 KB before storing it; decimal digits do not shrink by the quarter pglz asks
// for, so the whole value was compressed for nothing, every time: 0.7 to 0.8 ms of the
// server's CPU per result of n = 5,000 (16 KB), against 0.16 to 0.24 ms without (measured,
// batches of 8 and 64), the largest cost of the distributed profile's database. SQLite has
// no such setting: nothing to do there. Values already stored stay as they are (no rewrite).
var resultTextExternal = migrate.Migration{
	Name: "20261203", Comment: "result_text_external",
	Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return setTextStorage(ctx, m.DB(), "EXTERNAL")
	},
	Down: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return setTextStorage(ctx, m.DB(), "EXTENDED")
	},
}

// setTextStorage sets the storage of factorials.result_text on PostgreSQL.
func setTextStorage(ctx context.Context, db *bun.DB, storage string) error {
	if db.Dialect().Name() != dialect.PG {
		return nil
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE factorials ALTER COLUMN result_text SET STORAGE `+storage)
	return err
}
