package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/uptrace/bun"
)

// Status is where a factorial request stands.
type Status string

// The life of a request: pending → computing → done, or failed (retried by requesting again).
// A computing row goes back to pending when its worker releases it, and is taken over by
// another worker when its heartbeat stops. A pending or computing row can be cancelled
// (Cancel); requesting it again starts it anew.
const (
	StatusPending   Status = "pending"
	StatusComputing Status = "computing"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status.
var Statuses = []Status{StatusPending, StatusComputing, StatusDone, StatusFailed, StatusCancelled}

// Valid reports whether s is one of the five statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusComputing, StatusDone, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Record is the row of one factorial request, table factorials. Times are UTC.
type Record struct {
	bun.BaseModel `bun:"table:factorials" json:"-"`

	Number    int64   `bun:"number,pk" json:"number"`
	Status    Status  `bun:"status" json:"status"`
	Attempts  int     `bun:"attempts" json:"attempts"` // times a calculator claimed it since it was last requested
	Progress  float64 `bun:"progress" json:"progress"` // 0..1 while computing, 1 when done
	Key       string  `bun:"key" json:"key"`           // object key of the decimal text
	Bucket    string  `bun:"bucket" json:"bucket"`     // "" for local storage
	Checksum  string  `bun:"checksum" json:"checksum"` // hex SHA-256 of the decimal text
	Size      int64   `bun:"size" json:"size"`         // bytes of the decimal text
	Digits    int64   `bun:"digits" json:"digits"`     // decimal digits of n!
	ComputeMS int64   `bun:"compute_ms" json:"compute_ms"`
	Error     string  `bun:"error" json:"error,omitempty"`   // why it failed
	Worker    string  `bun:"worker" json:"worker,omitempty"` // who holds the claim while computing; after done or failed, who finished it
	// Text is the decimal text when it lives in the row (a result of at most
	// RESULT_ROW_MAX_BYTES); Key is then empty. Not in the JSON: whoever caches a record
	// keeps the digits beside it, and only when small enough.
	Text   string `bun:"result_text" json:"-"`
	CostUS int64  `bun:"cost_us" json:"-"` // events.Cost(Number) in microseconds, for admission control
	Client string `bun:"client" json:"-"`  // who asked last (an API key id or a client address)

	CreatedAt   time.Time  `bun:"created_at" json:"created_at"`
	UpdatedAt   time.Time  `bun:"updated_at" json:"updated_at"`
	RequestedAt time.Time  `bun:"requested_at" json:"requested_at"` // last time it became pending
	StartedAt   *time.Time `bun:"started_at" json:"started_at,omitempty"`
	HeartbeatAt *time.Time `bun:"heartbeat_at" json:"heartbeat_at,omitempty"`
	ComputedAt  *time.Time `bun:"computed_at" json:"computed_at,omitempty"`
	CheckedAt   *time.Time `bun:"checked_at" json:"-"` // when the reconciler last found its request held by JetStream
	// Unannounced is true while a done result's factorial.computed is owed: JetStream has not
	// taken it yet (the outbox the reconciler reads, Unannounced).
	Unannounced bool `bun:"unannounced" json:"-"`
}

// Result is what a calculator reports when it completes a factorial: where the digits are
// (Key and Bucket in the object store, or Text itself with Key empty) and what they are.
type Result struct {
	Key, Bucket, Checksum   string
	Size, Digits, ComputeMS int64
	Text                    string
}

// Errors of the repository.
var (
	ErrNotFound   = errors.New("factorial not found")
	ErrNotClaimed = errors.New("factorial not claimed by this worker")
)

// Factorials is the repository of factorial records. It is safe for concurrent use, and
// every state change is one statement, so concurrent callers in any number of processes
// see each change happen exactly once.
type Factorials struct {
	db    *bun.DB
	read  *bun.DB    // where the reads that need not see a write of their own go: db, or OpenReader's
	stmts *stmtCache // PostgreSQL's prepared statements of the batch operations
}

// NewFactorials returns the repository over db, whose schema is migrated.
func NewFactorials(db *bun.DB) *Factorials {
	return &Factorials{db: db, read: db, stmts: &stmtCache{}}
}

// ReadingFrom sends the repository's reads (Get, GetMany, List, Stuck, Unannounced,
// QueuedLarge) to r, read-only connections of the same database (OpenReader); writes, and
// the rows they return, stay on db. A nil r changes nothing. Every write is one statement
// that commits at once, so a read made after a write has returned sees it.
func (f *Factorials) ReadingFrom(r *bun.DB) *Factorials {
	if r != nil {
		f.read = r
		f.stmts = &stmtCache{} // none is prepared on r yet
	}
	return f
}

// columns lists every column of Record, for SELECT and RETURNING. Listing them (rather than
// "*") keeps an older binary working against a schema that has gained columns.
const columns = `number, status, attempts, progress, "key", bucket, checksum, size, digits, compute_ms,
	error, worker, result_text, cost_us, client, created_at, updated_at, requested_at, started_at,
	heartbeat_at, computed_at, checked_at, unannounced`

// columnsButText is columns without result_text, for statements whose caller has the text.
const columnsButText = `number, status, attempts, progress, "key", bucket, checksum, size, digits, compute_ms,
	error, worker, cost_us, client, created_at, updated_at, requested_at, started_at,
	heartbeat_at, computed_at, checked_at, unannounced`

// Request records a request for n. created is true when this call made it pending: a new
// row, or a failed or cancelled row reset to pending for a retry (Attempts=0, Error cleared,
// RequestedAt=now). Of many concurrent calls for the same n exactly one sees created=true.
// Done, pending and computing rows are returned unchanged. See RequestBatch for many.
func (f *Factorials) Request(ctx context.Context, n int64, now time.Time) (rec Record, created bool, err error) {
	res, err := f.RequestBatch(ctx, []NewRequest{{Number: n}}, now)
	if err != nil {
		return Record{}, false, fmt.Errorf("request factorial %d: %w", n, errors.Unwrap(err))
	}
	return res[0].Record, res[0].Created, nil
}

// Get returns the record of n, or an error wrapping ErrNotFound.
func (f *Factorials) Get(ctx context.Context, n int64) (Record, error) {
	var rec Record
	err := f.read.NewRaw(`SELECT `+columns+` FROM factorials WHERE number = ?`, n).Scan(ctx, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("get factorial %d: %w", n, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("get factorial %d: %w", n, err)
	}
	return rec.utc(), nil
}

// Stuck lists the rows the reconciler looks at: pending since before pendingBefore, and
// computing with a heartbeat older than staleBefore; each not checked (Checked) since before
// pendingBefore. Oldest first (by when it became pending, or its last heartbeat), at most
// limit (which must be positive).
func (f *Factorials) Stuck(ctx context.Context, pendingBefore, staleBefore time.Time, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list stuck factorials: limit %d is not positive", limit)
	}
	var recs []Record
	pb := dbTime(pendingBefore)
	err := f.read.NewRaw(`SELECT `+columns+` FROM factorials
		WHERE (status = 'pending' AND requested_at < ? AND (checked_at IS NULL OR checked_at < ?))
		   OR (status = 'computing' AND (heartbeat_at IS NULL OR heartbeat_at < ?) AND (checked_at IS NULL OR checked_at < ?))
		ORDER BY CASE WHEN status = 'pending' THEN requested_at ELSE heartbeat_at END, number
		LIMIT ?`, pb, pb, dbTime(staleBefore), pb, limit).Scan(ctx, &recs)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list stuck factorials: %w", err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
	}
	return recs, nil
}

// Checked records that the reconciler looked at the pending or computing rows of ns now
// (found their request held by JetStream, or published it again), so Stuck leaves them out
// until they have waited once more. Rows in any other state, and missing rows, are left
// alone without error.
func (f *Factorials) Checked(ctx context.Context, ns []int64, now time.Time) error {
	if len(ns) == 0 {
		return nil
	}
	_, err := f.db.NewRaw(`UPDATE factorials SET checked_at = ?
		WHERE number IN (?) AND status IN ('pending', 'computing')`, dbTime(now), bun.List(ns)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark %d factorials checked: %w", len(ns), err)
	}
	return nil
}

// dbTime is t as stored: UTC, to the microsecond (PostgreSQL's precision, and the precision
// of bun's SQLite text format), so what a caller passes is what it reads back.
//
// On SQLite, bun writes times as text, "2006-01-02 15:04:05.999999+00:00": with every time
// in UTC, text order is time order even with the trailing zeros of the fraction cut
// ("…:05+00:00" < "…:05.25+00:00" < "…:05.5+00:00", since '+' sorts before '.' and the
// digits), which the comparisons in the queries rely on. The contract suite checks it.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// utc returns r with every time in UTC (drivers hand back fixed zones or time.Local).
func (r Record) utc() Record {
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	r.RequestedAt = r.RequestedAt.UTC()
	for _, p := range []**time.Time{&r.StartedAt, &r.HeartbeatAt, &r.ComputedAt, &r.CheckedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return r
}

// clampProgress keeps a reported progress within 0..1 (NaN counts as 0).
func clampProgress(p float64) float64 {
	if math.IsNaN(p) || p < 0 {
		return 0
	}
	return min(p, 1)
}
