package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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
//
// With statuses, each status's page is read off the index (status, created_at, number) and
// the pages merged (UNION ALL, one statement): a page of a rare status reads its own rows,
// however many rows of the others there are.
func (f *Factorials) List(ctx context.Context, q ListQuery) ([]Record, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list factorials: limit %d is not positive", q.Limit)
	}
	const order = ` ORDER BY created_at DESC, number DESC LIMIT ?`
	// page is the statement of one page: of status s, or of every status when s is empty.
	var args []any
	page := func(s Status) string {
		var where []string
		if s != "" {
			where = append(where, "status = ?")
			args = append(args, string(s))
		}
		if q.After != nil {
			// Row values: both databases read this straight off the index.
			where = append(where, "(created_at, number) < (?, ?)")
			args = append(args, dbTime(q.After.CreatedAt), q.After.Number)
		}
		query := `SELECT ` + listColumns + ` FROM factorials`
		if len(where) > 0 {
			query += ` WHERE ` + strings.Join(where, " AND ")
		}
		args = append(args, q.Limit)
		return query + order
	}
	var query string
	switch statuses := slices.Compact(slices.Sorted(slices.Values(q.Statuses))); len(statuses) {
	case 0:
		query = page("")
	case 1:
		if !statuses[0].Valid() {
			return nil, fmt.Errorf("list factorials: unknown status %q", statuses[0])
		}
		query = page(statuses[0])
	default:
		pages := make([]string, len(statuses))
		for i, s := range statuses {
			if !s.Valid() {
				return nil, fmt.Errorf("list factorials: unknown status %q", s)
			}
			// A compound SELECT takes ORDER BY and LIMIT only at its end: each page is a
			// subquery of its own.
			pages[i] = fmt.Sprintf(`SELECT * FROM (%s) AS page%d`, page(s), i)
		}
		query = strings.Join(pages, " UNION ALL ") + order
		args = append(args, q.Limit)
	}
	var recs []Record
	if err := f.read.NewRaw(query, args...).Scan(ctx, &recs); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list factorials: %w", err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
	}
	return recs, nil
}
