package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// The migrations written in Go: what one SQL text cannot say for both databases.
var goMigrations = []migrate.Migration{
	// Adds the status cancelled to the status CHECK constraint, and the index of the listing
	// (GET /api/v1/factorial: newest first by created_at, number).
	//
	// PostgreSQL replaces the constraint. SQLite cannot change a CHECK constraint in place
	// (ALTER TABLE has no such form), so the table is rebuilt as SQLite's documentation says
	// (https://sqlite.org/lang_altertable.html#otheralter): a new table made from the stored
	// CREATE TABLE text with only the CHECK changed, the rows copied, the old table dropped, the
	// new one renamed, and the old table's indexes created again from their stored text. Made
	// from what the database holds rather than a copy of the columns here, the rebuild keeps
	// whatever columns and indexes the migrations before it made. One transaction: all or
	// nothing.
	{
		Name: "20261201", Comment: "cancelled",
		Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if err := setStatuses(ctx, tx, statusesWithCancelled); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS factorials_created_idx ON factorials (created_at, number)`)
				return err
			})
		},
		Down: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				// The older release knows no cancelled: such a request reads as failed, and
				// requesting it again retries it there too.
				if _, err := tx.ExecContext(ctx, `UPDATE factorials SET status = 'failed', error = 'cancelled'
					WHERE status = 'cancelled'`); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS factorials_created_idx`); err != nil {
					return err
				}
				return setStatuses(ctx, tx, statusesBefore)
			})
		},
	},
	resultTextExternal,
}

const (
	statusesBefore        = `'pending', 'computing', 'done', 'failed'`
	statusesWithCancelled = `'pending', 'computing', 'done', 'failed', 'cancelled'`
)

// setStatuses makes the status CHECK constraint of factorials allow exactly the statuses
// listed (SQL string literals, comma-separated).
func setStatuses(ctx context.Context, tx bun.Tx, statuses string) error {
	check := "CHECK (status IN (" + statuses + "))"
	switch tx.Dialect().Name() {
	case dialect.PG:
		// A CHECK written on the column is named <table>_<column>_check.
		_, err := tx.ExecContext(ctx, `ALTER TABLE factorials DROP CONSTRAINT IF EXISTS factorials_status_check,
			ADD CONSTRAINT factorials_status_check `+check)
		return err
	case dialect.SQLite:
		return rebuildSQLite(ctx, tx, check)
	default:
		return fmt.Errorf("unsupported database %s", tx.Dialect().Name())
	}
}

var (
	statusCheck = regexp.MustCompile(`(?i)CHECK\s*\(\s*status\s+IN\s*\([^)]*\)\s*\)`)
	tableHead   = regexp.MustCompile(`(?i)^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?"?factorials"?\s*\(`)
)

// rebuildSQLite rebuilds the factorials table of a SQLite database with its status CHECK
// replaced by check.
func rebuildSQLite(ctx context.Context, tx bun.Tx, check string) error {
	var table string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'factorials'`).Scan(&table); err != nil {
		return fmt.Errorf("read the definition of factorials: %w", err)
	}
	if len(statusCheck.FindAllStringIndex(table, -1)) != 1 || !tableHead.MatchString(table) {
		return fmt.Errorf("the definition of factorials is not the one expected (one status CHECK): %s", table)
	}
	table = statusCheck.ReplaceAllLiteralString(table, check)
	table = tableHead.ReplaceAllLiteralString(table, "CREATE TABLE factorials_rebuilt (")

	rows, err := tx.QueryContext(ctx, `SELECT sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'factorials' AND sql IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read the indexes of factorials: %w", err)
	}
	var indexes []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			_ = rows.Close()
			return err
		}
		indexes = append(indexes, s.String)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("read the indexes of factorials: %w", err)
	}

	steps := append([]string{
		table,
		`INSERT INTO factorials_rebuilt SELECT * FROM factorials`,
		`DROP TABLE factorials`,
		`ALTER TABLE factorials_rebuilt RENAME TO factorials`,
	}, indexes...)
	for _, step := range steps {
		if _, err := tx.ExecContext(ctx, step); err != nil {
			return fmt.Errorf("rebuild factorials: %s: %w", strings.Fields(step)[0]+" "+strings.Fields(step)[1], err)
		}
	}
	return nil
}
