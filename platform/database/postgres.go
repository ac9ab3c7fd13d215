package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// The connection pool. database/sql keeps only 2 idle connections by default: with more
// requests at once than that, every query beyond the second opened a new connection (a new
// PostgreSQL backend process, its start-up and authentication) and closed it afterwards.
// Under 64 clients the API spent most of its time so (profiled: 83 of 210 s of network wait
// in pgdriver's start-up), and a GET took 200 ms instead of 2. The pool keeps what it opens,
// up to its bound, and lets connections idle for pgMaxIdleTime go.
const (
	pgMaxConns    = 16 // per process; DATABASE_URL's pool_max_conns sets it
	pgMaxIdleTime = 5 * time.Minute
)

// openPostgres opens a PostgreSQL pool through bun's pgdriver and pings it.
func openPostgres(ctx context.Context, raw string) (*bun.DB, error) {
	raw, maxConns, err := poolSize(raw)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", redact(raw), err)
	}
	connector, err := pgConnector(raw)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", redact(raw), err)
	}
	sqldb := sql.OpenDB(safeConnector{connector}) // see safeConnector
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	sqldb.SetConnMaxIdleTime(pgMaxIdleTime)
	db := bun.NewDB(sqldb, pgdialect.New())
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

// poolSize takes the pool_max_conns parameter out of raw (pgx's name for it; PostgreSQL
// itself would refuse it as an unknown setting) and returns the pool's bound.
func poolSize(raw string) (string, int, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.Query().Has("pool_max_conns") {
		return raw, pgMaxConns, nil // a URL that does not parse is pgConnector's to report
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return raw, 0, fmt.Errorf("pool_max_conns=%q: want a number of connections from 1 to 1000", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
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
