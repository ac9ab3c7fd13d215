// Package database opens the service's database (PostgreSQL or SQLite, through bun) and holds
// the record of every factorial request: the factorials table and its repository, Factorials.
//
// The schema itself lives in the migrations module (github.com/factorial-service/factorial/migrations),
// which also holds the repository's contract suite (migrations/dbtest), run against both
// SQLite and PostgreSQL: platform cannot import migrations without a module cycle.
package database

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/uptrace/bun"
)

// Open connects to the database named by rawURL, the value of DATABASE_URL, and pings it.
//
//   - postgres://… or postgresql://… opens PostgreSQL (bun's pgdriver and pgdialect).
//   - Anything else is a SQLite file: a path, or the same with a file: or sqlite:// prefix
//     (":memory:" gives an in-memory database). The parent directory is created. See
//     openSQLite for the connection settings.
//
// Errors name DATABASE_URL and never show a password.
func Open(ctx context.Context, rawURL string) (*bun.DB, error) {
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		return nil, fmt.Errorf("DATABASE_URL is empty: set it to postgres://user:password@host:5432/db or a SQLite file path")
	}
	if isPostgres(raw) {
		return openPostgres(ctx, raw)
	}
	if scheme, _, ok := strings.Cut(raw, "://"); ok && !strings.EqualFold(scheme, "sqlite") && !strings.EqualFold(scheme, "file") {
		return nil, fmt.Errorf("DATABASE_URL has unsupported scheme %q: use postgres://…, postgresql://… or a SQLite file path", scheme)
	}
	return openSQLite(ctx, raw)
}

// isPostgres reports whether raw names a PostgreSQL server.
func isPostgres(raw string) bool {
	lower := strings.ToLower(raw)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// redact returns raw with any password replaced by "xxxxx", for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// The URL does not parse, so it cannot be shown safely in part: show its scheme only.
		scheme, _, _ := strings.Cut(raw, "://")
		return scheme + "://…"
	}
	return u.Redacted()
}
