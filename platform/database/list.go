package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Cancel stops the request for n: a pending or computing row becomes cancelled (its progress
// and worker are kept, to show how far it got and where). The calculator computing it loses
// its claim: its next heartbeat, or its result, finds the row no longer computing, and it
// stops. Requesting n again starts it anew (see RequestBatch).
//
// cancelled is true for the one call that cancelled it; any other call gets the row as it
// stands (done, failed, or already cancelled), and a missing row an error wrapping
// ErrNotFound.
func (f *Factorials) Cancel(ctx context.Context, n int64, now time.Time) (rec Record, cancelled bool, err error) {
	now = dbTime(now)
	err = f.db.NewRaw(`UPDATE factorials SET status = 'cancelled', heartbeat_at = NULL, checked_at = NULL,
			updated_at = ?
		WHERE number = ? AND status IN ('pending', 'computing')
		RETURNING `+columns, now, n).Scan(ctx, &rec)
	switch {
	case err == nil:
		return rec.utc(), true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return Record{}, false, fmt.Errorf("cancel factorial %d: %w", n, err)
	}
	rec, err = f.Get(ctx, n)
	if err != nil {
		return Record{}, false, fmt.Errorf("cancel factorial %d: %w", n, err)
	}
	return rec, false, nil
}

// Cursor is where a page of List ends: the last row's CreatedAt and Number. The next page
// starts after it.
type Cursor struct {
	CreatedAt time.Time
	Number    int64
}

// CursorOf is the cursor after rec.
func CursorOf(rec Record) Cursor { return Cursor{CreatedAt: dbTime(rec.CreatedAt), Number: rec.Number} }

// ListQuery says which records List returns.
type ListQuery struct {
	Statuses []Status // only these; none means every status
	Limit    int      // at most this many, which must be positive
	After    *Cursor  // the rows after this one; nil starts with the newest
}

// listColumns are the columns of a listing: the digits kept in a row are left out (a page
// of small results would otherwise carry up to 64 KiB each).
var listColumns = strings.Replace(columns, "result_text", "'' AS result_text", 1)

// List returns records newest first, by CreatedAt and then Number (both descending): a key
// that never changes, so paging with the cursor of the last row neither repeats nor skips a
// row however the rows change meanwhile (a row's status, progress and UpdatedAt change many
// times while it is computed; ordering by them would move rows between pages). A number
// requested again keeps its place: CreatedAt is when it was first asked. Text is empty.
func (f *Factorials) List(ctx context.Context, q ListQuery) ([]Record, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list factorials: limit %d is not positive", q.Limit)
	}
	var (
		where []string
		args  []any
	)
	if len(q.Statuses) > 0 {
		ss := make([]string, len(q.Statuses))
		for i, s := range q.Statuses {
			if !s.Valid() {
				return nil, fmt.Errorf("list factorials: unknown status %q", s)
			}
			ss[i] = string(s)
		}
		where = append(where, "status IN (?)")
		args = append(args, bun.List(ss))
	}
	if q.After != nil {
		// Row values: both databases read this straight off the (created_at, number) index.
		where = append(where, "(created_at, number) < (?, ?)")
		args = append(args, dbTime(q.After.CreatedAt), q.After.Number)
	}
	query := `SELECT ` + listColumns + ` FROM factorials`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY created_at DESC, number DESC LIMIT ?`
	args = append(args, q.Limit)
	var recs []Record
	if err := f.read.NewRaw(query, args...).Scan(ctx, &recs); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list factorials: %w", err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
	}
	return recs, nil
}
