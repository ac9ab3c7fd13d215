package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Claim makes worker the one computing n when the row is pending, or computing with
// HeartbeatAt before staleBefore (its worker died). A missing row is inserted as claimed (a
// request published by someone other than the API). It sets status computing, Worker,
// Attempts+1, StartedAt=HeartbeatAt=now and Progress 0, and returns the claimed row.
//
// ok is false, with no error, when the row is done, failed, or computing by a live worker;
// rec is then the row as it stands. Claim is one statement: of many concurrent claims of n,
// exactly one wins.
func (f *Factorials) Claim(ctx context.Context, n int64, worker string, now, staleBefore time.Time) (rec Record, ok bool, err error) {
	claimed, err := f.ClaimBatch(ctx, []int64{n}, worker, now, staleBefore)
	if err != nil {
		return Record{}, false, fmt.Errorf("claim factorial %d for %s: %w", n, worker, errors.Unwrap(err))
	}
	if len(claimed) == 1 {
		return claimed[0], true, nil
	}
	rec, err = f.Get(ctx, n)
	if err != nil {
		return Record{}, false, fmt.Errorf("claim factorial %d for %s: %w", n, worker, err)
	}
	return rec, false, nil
}

// Heartbeat records that worker still computes n and how far it is (progress, kept within
// 0..1). It returns an error wrapping ErrNotClaimed when worker no longer holds n.
func (f *Factorials) Heartbeat(ctx context.Context, n int64, worker string, progress float64, now time.Time) error {
	now = dbTime(now)
	res, err := f.db.NewRaw(`UPDATE factorials SET progress = ?, heartbeat_at = ?, updated_at = ?
		WHERE number = ? AND status = 'computing' AND worker = ?`,
		clampProgress(progress), now, now, n, worker).Exec(ctx)
	if err != nil {
		return fmt.Errorf("heartbeat factorial %d for %s: %w", n, worker, err)
	}
	if changed, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("heartbeat factorial %d for %s: %w", n, worker, err)
	} else if changed == 0 {
		return fmt.Errorf("heartbeat factorial %d for %s: %w", n, worker, ErrNotClaimed)
	}
	return nil
}

// HeartbeatClaim records a heartbeat on every row worker holds, in one statement: a small
// batch is claimed under one name, so its rows not yet recorded are kept alive together. It
// returns how many rows it touched.
func (f *Factorials) HeartbeatClaim(ctx context.Context, worker string, now time.Time) (int64, error) {
	now = dbTime(now)
	res, err := f.db.NewRaw(`UPDATE factorials SET heartbeat_at = ?, updated_at = ?
		WHERE worker = ? AND status = 'computing'`, now, now, worker).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("heartbeat the claim %s: %w", worker, err)
	}
	return res.RowsAffected()
}

// Complete records the result of n, computed by worker: status done, Progress 1, ComputedAt
// now. It returns an error wrapping ErrNotClaimed when worker no longer holds n.
func (f *Factorials) Complete(ctx context.Context, n int64, worker string, r Result, now time.Time) (Record, error) {
	now = dbTime(now)
	return f.finish(ctx, "complete", n, worker, `status = 'done', progress = 1, "key" = ?, bucket = ?,
		checksum = ?, size = ?, digits = ?, compute_ms = ?, result_text = ?, error = '', computed_at = ?,
		updated_at = ?, unannounced = 1`,
		r.Key, r.Bucket, r.Checksum, r.Size, r.Digits, r.ComputeMS, r.Text, now, now)
}

// Fail records that n cannot be computed, and why: status failed, Error reason. Requesting
// n again retries it. It returns an error wrapping ErrNotClaimed when worker no longer holds n.
func (f *Factorials) Fail(ctx context.Context, n int64, worker, reason string, now time.Time) (Record, error) {
	return f.finish(ctx, "fail", n, worker, `status = 'failed', error = ?, updated_at = ?`, reason, dbTime(now))
}

// Release gives n back: computing → pending with RequestedAt now, for another worker to
// claim (the worker shuts down, or met an error worth retrying), recording reason as the
// record's Error so the next attempt and the client can see it. Attempts is kept, except
// with an empty reason (the worker shut down), which does not count as an attempt. It
// returns an error wrapping ErrNotClaimed when worker no longer holds n.
func (f *Factorials) Release(ctx context.Context, n int64, worker, reason string, now time.Time) error {
	now = dbTime(now)
	// An empty reason is a worker stopping, not an attempt failing: it is not counted.
	uncount := 0
	if reason == "" {
		uncount = 1
	}
	_, err := f.finish(ctx, "release", n, worker, `status = 'pending', worker = '', progress = 0, error = ?,
		attempts = attempts - ?, started_at = NULL, heartbeat_at = NULL, requested_at = ?, updated_at = ?`,
		reason, uncount, now, now)
	return err
}

// finish applies set (with args) to n if worker holds its claim, and returns the new row.
func (f *Factorials) finish(ctx context.Context, op string, n int64, worker, set string, args ...any) (Record, error) {
	var rec Record
	args = append(args, n, worker)
	err := f.db.NewRaw(`UPDATE factorials SET `+set+`
		WHERE number = ? AND status = 'computing' AND worker = ?
		RETURNING `+columns, args...).Scan(ctx, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%s factorial %d for %s: %w", op, n, worker, ErrNotClaimed)
	}
	if err != nil {
		return Record{}, fmt.Errorf("%s factorial %d for %s: %w", op, n, worker, err)
	}
	return rec.utc(), nil
}

// FailPending fails n with reason if it is pending (no calculator will ever compute it: it is
// above the calculators' MAX_NUMBER). ok is false, with no error, when n is missing or not
// pending.
func (f *Factorials) FailPending(ctx context.Context, n int64, reason string, now time.Time) (rec Record, ok bool, err error) {
	now = dbTime(now)
	err = f.db.NewRaw(`UPDATE factorials SET status = 'failed', error = ?, updated_at = ?
		WHERE number = ? AND status = 'pending'
		RETURNING `+columns, reason, now, n).Scan(ctx, &rec)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("fail pending factorial %d: %w", n, err)
	}
	return rec.utc(), true, nil
}
