package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Recompute sends a done result whose stored digits turned out not to match it back to be
// computed again: done with this checksum → pending, its result cleared, Attempts 0,
// RequestedAt now, and Error saying why (metadata shows it until the result is done again).
// reset is true for the one call that did it; any other call (the result was already sent
// back, recomputed since with another checksum, or n is not done) gets the row as it stands,
// and a missing row an error wrapping ErrNotFound.
func (f *Factorials) Recompute(ctx context.Context, n int64, checksum, reason string, now time.Time) (rec Record, reset bool, err error) {
	now = dbTime(now)
	err = f.db.NewRaw(`UPDATE factorials SET
			status = 'pending', attempts = 0, progress = 0, "key" = '', bucket = '', checksum = '',
			size = 0, digits = 0, compute_ms = 0, result_text = '', error = ?, worker = '',
			checked_at = NULL, unannounced = 0,
			started_at = NULL, heartbeat_at = NULL, computed_at = NULL,
			requested_at = ?, updated_at = ?
		WHERE number = ? AND status = 'done' AND checksum = ?
		RETURNING `+columns, reason, now, now, n, checksum).Scan(ctx, &rec)
	switch {
	case err == nil:
		return rec.utc(), true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return Record{}, false, fmt.Errorf("recompute factorial %d: %w", n, err)
	}
	rec, err = f.Get(ctx, n)
	if err != nil {
		return Record{}, false, fmt.Errorf("recompute factorial %d: %w", n, err)
	}
	return rec, false, nil
}
