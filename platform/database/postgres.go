package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// openPostgres opens a PostgreSQL pool through bun's pgdriver and pings it.
func openPostgres(ctx context.Context, raw string) (*bun.DB, error) {
	connector, err := pgConnector(raw)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", redact(raw), err)
	}
	db := bun.NewDB(sql.OpenDB(connector), pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		hint := ""
		if strings.Contains(err.Error(), "SSL is not enabled on the server") {
			// pgdriver wants TLS unless told otherwise; libpq would fall back to plain text.
			hint = " (add ?sslmode=disable to DATABASE_URL for a server without TLS)"
		}
		return nil, fmt.Errorf("DATABASE_URL %s: connect to PostgreSQL: %w%s", redact(raw), err, hint)
	}
	return db, nil
}

// pgConnector parses raw into a pgdriver connector. pgdriver panics on some malformed
// DSNs (an empty user name, an unreadable sslrootcert…); the panic becomes an error here.
func pgConnector(raw string) (c *pgdriver.Connector, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only the reason.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a valid URL: %w", err)
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return nil, fmt.Errorf("no host: want postgres://user:password@host:5432/database")
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return pgdriver.NewConnector(pgdriver.WithDSN(raw)), nil
}
