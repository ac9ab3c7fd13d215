package database

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/factorial-service/factorial/events"
)

// The batch operations do for many numbers what Request, Claim and Complete do for one, each
// in one statement: with many clients at once (the API) and many small requests at once (the
// calculator's small lane), one round trip and one commit serve them all. Under SQLite's
// synchronous=FULL, each commit of a request is a sync of the disk: batching is what makes it
// fast (the calculator's commit without one: relaxedSync).

// NewRequest is one request to record.
type NewRequest struct {
	Number int64
	Client string // who asks: an API key id or a client address ("" when unknown)
}

// Requested is the outcome of one request: the record, and whether this call made it
// pending (a new row, or a failed one reset for a retry).
type Requested struct {
	Record  Record
	Created bool
}

// maxBatchText and maxBatchRows bound the digits and the rows in one statement of
// CompleteBatch.
const (
	maxBatchText = 4 << 20
	maxBatchRows = 256
)

// RequestBatch records the requests, as Request does each: new numbers are inserted pending,
// failed and cancelled ones are reset to pending, others are returned unchanged. The result has one entry
// per distinct number, in the order of reqs (a repeated number is recorded once, for its
// first request). Two statements whatever the batch: the insert, then a read of the numbers
// it did not change.
func (f *Factorials) RequestBatch(ctx context.Context, reqs []NewRequest, now time.Time) ([]Requested, error) {
	reqs = distinct(reqs, func(r NewRequest) int64 { return r.Number })
	if len(reqs) == 0 {
		return nil, nil
	}
	now = dbTime(now)
	var (
		created []Record
		err     error
	)
	if f.db.Dialect().Name() == dialect.PG {
		created, err = f.requestBatchPG(ctx, reqs, now)
	} else {
		created, err = f.requestBatchSQL(ctx, reqs, now)
	}
	if err != nil {
		return nil, fmt.Errorf("request %d factorials: %w", len(reqs), err)
	}
	return f.requested(ctx, reqs, created)
}

// requestSet is what RequestBatch changes of a row that exists (failed or cancelled).
const requestSet = `ON CONFLICT (number) DO UPDATE SET
			status = 'pending', attempts = 0, progress = 0, error = '', worker = '',
			started_at = NULL, heartbeat_at = NULL, checked_at = NULL,
			cost_us = excluded.cost_us, client = excluded.client,
			requested_at = excluded.requested_at, updated_at = excluded.updated_at
		WHERE factorials.status IN ('failed', 'cancelled')
		RETURNING ` + columns

// requestBatchPG inserts the requests on PostgreSQL: one prepared statement whatever the
// batch, its values passed as arrays (see completeChunkPG).
func (f *Factorials) requestBatchPG(ctx context.Context, reqs []NewRequest, now time.Time) ([]Record, error) {
	reqs = slices.SortedFunc(slices.Values(reqs), func(a, b NewRequest) int { return cmp.Compare(a.Number, b.Number) }) // see lockOrder
	ns := make([]int64, len(reqs))
	costs := make([]int64, len(reqs))
	clients := make([]string, len(reqs))
	for i, r := range reqs {
		ns[i], costs[i], clients[i] = r.Number, events.Cost(r.Number).Microseconds(), r.Client
	}
	var created []Record
	err := f.queryPrepared(ctx, f.db, "request", func() string {
		return `INSERT INTO factorials (number, status, cost_us, client, created_at, updated_at, requested_at)
			SELECT v.n, 'pending', v.cost, v.client, $4::timestamptz, $4::timestamptz, $4::timestamptz
			FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v (n, cost, client)
			` + requestSet
	}, &created, int64Array(ns), int64Array(costs), textArray(clients), now)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return created, nil
}

// requestBatchSQL inserts the requests on SQLite: one prepared statement whatever the batch,
// the requests passed as a JSON array of [number, cost, client] (as GetMany does). With them
// in the text, formatted by bun, every batch was parsed and planned anew: sqlite3_prepare
// for this statement alone was 2.3% of the standalone process's CPU under make bench-load's
// 1..10,000. The times are written as bun writes them (sqliteTime), which SQLite compares as
// text.
func (f *Factorials) requestBatchSQL(ctx context.Context, reqs []NewRequest, now time.Time) ([]Record, error) {
	list := make([]byte, 0, 2+24*len(reqs))
	list = append(list, '[')
	for i, r := range reqs {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, '[')
		list = strconv.AppendInt(list, r.Number, 10)
		list = append(list, ',')
		list = strconv.AppendInt(list, events.Cost(r.Number).Microseconds(), 10)
		list = append(list, ',')
		client, err := json.Marshal(r.Client)
		if err != nil {
			return nil, err
		}
		list = append(append(list, client...), ']')
	}
	list = append(list, ']')
	var created []Record
	err := f.queryPrepared(ctx, f.db, "request-batch-sqlite", func() string {
		// WHERE true: SQLite reads ON CONFLICT after a SELECT's FROM as a join's ON without it.
		return `INSERT INTO factorials (number, status, cost_us, client, created_at, updated_at, requested_at)
			SELECT value ->> 0, 'pending', value ->> 1, value ->> 2, ?1, ?1, ?1 FROM json_each(?2) WHERE true
			` + requestSet
	}, &created, f.sqliteTime(now), string(list))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return created, nil
}

// sqliteTime is t as bun writes a time into a statement for SQLite, without the quotes: the
// text SQLite stores and compares.
func (f *Factorials) sqliteTime(t time.Time) string {
	b := f.db.Dialect().AppendTime(nil, t)
	return string(b[1 : len(b)-1])
}

// requested is RequestBatch's answer: the rows created, and those it did not change read.
func (f *Factorials) requested(ctx context.Context, reqs []NewRequest, created []Record) ([]Requested, error) {
	byNumber := make(map[int64]Requested, len(reqs))
	for _, rec := range created {
		byNumber[rec.Number] = Requested{Record: rec.utc(), Created: true}
	}
	var rest []int64
	for _, r := range reqs {
		if _, ok := byNumber[r.Number]; !ok {
			rest = append(rest, r.Number)
		}
	}
	existing, err := f.GetMany(ctx, rest)
	if err != nil {
		return nil, fmt.Errorf("request %d factorials: %w", len(reqs), err)
	}
	for _, rec := range existing {
		byNumber[rec.Number] = Requested{Record: rec}
	}
	out := make([]Requested, 0, len(reqs))
	for _, r := range reqs {
		res, ok := byNumber[r.Number]
		if !ok {
			// Only a row deleted between the two statements; nothing deletes rows.
			return nil, fmt.Errorf("request factorial %d: the row vanished", r.Number)
		}
		out = append(out, res)
	}
	return out, nil
}

// GetMany returns the records of the numbers that have one, in no particular order.
func (f *Factorials) GetMany(ctx context.Context, ns []int64) ([]Record, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	var recs []Record
	var err error
	if f.read.Dialect().Name() == dialect.PG {
		// One prepared statement whatever the count (see completeChunkPG), which looks each
		// number up in the primary key whatever the size of the table when it was planned.
		// PostgreSQL plans a prepared statement for good (until the table is analyzed) after
		// five runs; as "number = ANY($1)" on a table still small (a new database, the first
		// minute of a deployment, every make bench-load run), that plan was a sequential scan,
		// kept while the table grew: every batch of GETs read every row (a tenth of the
		// database's CPU for 10,000 results). A subquery per number, kept apart by OFFSET 0
		// (not flattened into a join the planner may hash), is an index lookup at any size.
		err = f.queryPrepared(ctx, f.read, "get-many", func() string {
			return `SELECT f.* FROM unnest($1::bigint[]) AS v (n),
				LATERAL (SELECT ` + columns + ` FROM factorials WHERE number = v.n OFFSET 0) AS f`
		}, &recs, int64Array(distinct(ns, func(n int64) int64 { return n })))
	} else {
		// The same on SQLite, the numbers as a JSON array: with them in the text, every call
		// was parsed and planned anew (sqlite3_prepare was 4% of the standalone process's
		// CPU under make bench-load's tiny workload, most of it for the GETs' batched reads;
		// BenchmarkGetManySQLite).
		err = f.queryPrepared(ctx, f.read, "get-many-sqlite", func() string {
			return `SELECT ` + columns + ` FROM factorials WHERE number IN (SELECT value FROM json_each(?))`
		}, &recs, jsonArray(ns))
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %d factorials: %w", len(ns), err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
	}
	return recs, nil
}

// ClaimBatch claims each of ns for worker as Claim does, in one statement, and returns the
// rows it claimed; the others are done, failed, or computing by a live worker.
func (f *Factorials) ClaimBatch(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]Record, error) {
	ns = distinct(ns, func(n int64) int64 { return n })
	slices.Sort(ns) // see lockOrder
	if len(ns) == 0 {
		return nil, nil
	}
	now = dbTime(now)
	if f.db.Dialect().Name() == dialect.PG {
		return f.claimBatchPG(ctx, ns, worker, now, dbTime(staleBefore))
	}
	var values strings.Builder
	args := make([]any, 0, 8*len(ns)+1)
	for i, n := range ns {
		if i > 0 {
			values.WriteString(", ")
		}
		values.WriteString("(?, 'computing', 1, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, n, worker, events.Cost(n).Microseconds(), now, now, now, now, now)
	}
	args = append(args, dbTime(staleBefore))
	var claimed []Record
	err := f.relaxedSync(ctx, func(db bun.IDB, _ sqlQuerier) error {
		return db.NewRaw(`INSERT INTO factorials
			(number, status, attempts, worker, cost_us, created_at, updated_at, requested_at, started_at, heartbeat_at)
		VALUES `+values.String()+`
		ON CONFLICT (number) DO UPDATE SET
			status = 'computing', worker = excluded.worker, attempts = factorials.attempts + 1,
			progress = 0, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
			updated_at = excluded.updated_at
		WHERE factorials.status = 'pending'
		   OR (factorials.status = 'computing' AND (factorials.heartbeat_at IS NULL OR factorials.heartbeat_at < ?))
		RETURNING `+columns, args...).Scan(ctx, &claimed)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claim %d factorials for %s: %w", len(ns), worker, err)
	}
	for i := range claimed {
		claimed[i] = claimed[i].utc()
	}
	return claimed, nil
}

// claimBatchPG is ClaimBatch on PostgreSQL: one prepared statement whatever the batch, its
// numbers passed as arrays (see completeChunkPG).
func (f *Factorials) claimBatchPG(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]Record, error) {
	costs := make([]int64, len(ns))
	for i, n := range ns {
		costs[i] = events.Cost(n).Microseconds()
	}
	var claimed []Record
	err := f.queryPrepared(ctx, f.db, "claim", func() string {
		return `INSERT INTO factorials
				(number, status, attempts, worker, cost_us, created_at, updated_at, requested_at, started_at, heartbeat_at)
			SELECT v.n, 'computing', 1, $3::text, v.cost, $4::timestamptz, $4::timestamptz, $4::timestamptz, $4::timestamptz, $4::timestamptz
			FROM unnest($1::bigint[], $2::bigint[]) AS v (n, cost)
			ON CONFLICT (number) DO UPDATE SET
				status = 'computing', worker = excluded.worker, attempts = factorials.attempts + 1,
				progress = 0, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
				updated_at = excluded.updated_at
			WHERE factorials.status = 'pending'
			   OR (factorials.status = 'computing' AND (factorials.heartbeat_at IS NULL OR factorials.heartbeat_at < $5::timestamptz))
			RETURNING ` + columns
	}, &claimed, int64Array(ns), int64Array(costs), worker, now, staleBefore)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claim %d factorials for %s: %w", len(ns), worker, err)
	}
	for i := range claimed {
		claimed[i] = claimed[i].utc()
	}
	return claimed, nil
}

// Completion is the result of one number, for CompleteBatch.
type Completion struct {
	Number int64
	Result Result
}

// CompleteBatch records the results as Complete does each, in as few statements as the
// digits allow (at most maxBatchText of them per statement), and returns the rows it
// completed; a number worker no longer holds is left out.
func (f *Factorials) CompleteBatch(ctx context.Context, worker string, cs []Completion, now time.Time) ([]Record, error) {
	cs = distinct(cs, func(c Completion) int64 { return c.Number })
	slices.SortFunc(cs, func(a, b Completion) int { return cmp.Compare(a.Number, b.Number) }) // see lockOrder
	now = dbTime(now)
	var done []Record
	for len(cs) > 0 {
		size, k := 0, 0
		for k < len(cs) && k < maxBatchRows && (k == 0 || size+len(cs[k].Result.Text) <= maxBatchText) {
			size += len(cs[k].Result.Text)
			k++
		}
		recs, err := f.completeChunk(ctx, worker, cs[:k], now)
		if err != nil {
			return done, err
		}
		done = append(done, recs...)
		cs = cs[k:]
	}
	return done, nil
}

func (f *Factorials) completeChunk(ctx context.Context, worker string, cs []Completion, now time.Time) ([]Record, error) {
	if f.db.Dialect().Name() == dialect.PG {
		return f.completeChunkPG(ctx, worker, cs, now)
	}
	// The digits go as driver arguments, not as SQL text formatted by bun: SQLite's driver
	// binds them (copied once). The rest is formatted by bun as everywhere else (times above
	// all, whose text form SQLite compares).
	args := make([]any, 0, 4*len(cs))
	param := func(v string) string {
		args = append(args, v)
		return "?"
	}
	var q strings.Builder
	q.WriteString(`WITH v (v_number, v_key, v_bucket, v_checksum, v_size, v_digits, v_ms, v_text) AS (VALUES `)
	texts := make(map[int64]string, len(cs))
	for i, c := range cs {
		if i > 0 {
			q.WriteString(", ")
		}
		r := c.Result
		texts[c.Number] = r.Text
		fmt.Fprintf(&q, "(%d, %s, %s, %s, %d, %d, %d, %s)", c.Number, param(r.Key), param(r.Bucket), param(r.Checksum),
			r.Size, r.Digits, r.ComputeMS, param(r.Text))
	}
	tail, err := f.db.NewRaw(`)
		UPDATE factorials SET status = 'done', progress = 1, "key" = v_key, bucket = v_bucket,
			checksum = v_checksum, size = v_size, digits = v_digits, compute_ms = v_ms, result_text = v_text,
			error = '', computed_at = ?, updated_at = ?, unannounced = 1
		FROM v
		WHERE factorials.number = v_number AND factorials.status = 'computing' AND factorials.worker = ?
		RETURNING `+columnsButText, now, now, worker).AppendQuery(f.db.QueryGen(), nil)
	if err != nil {
		return nil, fmt.Errorf("complete %d factorials for %s: %w", len(cs), worker, err)
	}
	q.Write(tail)
	// The values' columns have names of their own, so that RETURNING's are not ambiguous.
	var recs []Record
	err = f.relaxedSync(ctx, func(_ bun.IDB, raw sqlQuerier) error {
		rows, err := raw.QueryContext(ctx, q.String(), args...)
		recs, err = f.completed(ctx, rows, err, texts, len(cs), worker)
		return err
	})
	return recs, err
}

// completed reads the records a completion statement returns (rows, or its error err),
// their digits taken from texts: what was just written, not read back.
func (f *Factorials) completed(ctx context.Context, rows *sql.Rows, err error, texts map[int64]string, count int, worker string) ([]Record, error) {
	var recs []Record
	if err == nil {
		err = f.db.ScanRows(ctx, rows, &recs)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("complete %d factorials for %s: %w", count, worker, err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
		recs[i].Text = texts[recs[i].Number]
	}
	return recs, nil
}

// completeChunkPG is completeChunk on PostgreSQL: a prepared statement, whose arguments go
// apart from its text (the extended protocol). bun's pgdriver sends a statement with
// arguments as one text, the digits written into it as quoted literals: the calculator
// copied every digit one at a time into a growing buffer, and the server lexed them, parsed
// them and copied them through its planner (perf: a fifth of the server's CPU of the
// distributed profile went so). Prepared, the digits are copied once on each side and the
// statement is parsed and planned once per connection. There is one statement for each
// power of two of rows (at most maxBatchRows); a chunk is padded to it with rows of number
// -1, which match no record.
func (f *Factorials) completeChunkPG(ctx context.Context, worker string, cs []Completion, now time.Time) ([]Record, error) {
	rows := 1
	for rows < len(cs) {
		rows *= 2
	}
	stmt, err := f.stmts.get(ctx, f.db.DB, "complete/"+strconv.Itoa(rows), func() string { return completeStatementPG(rows) })
	if err != nil {
		return nil, fmt.Errorf("complete %d factorials for %s: %w", len(cs), worker, err)
	}
	args := make([]any, 0, 8*rows+3)
	texts := make(map[int64]string, len(cs))
	for i := range rows {
		if i >= len(cs) {
			args = append(args, int64(-1), "", "", "", int64(0), int64(0), int64(0), "")
			continue
		}
		c := cs[i]
		r := c.Result
		texts[c.Number] = r.Text
		args = append(args, c.Number, r.Key, r.Bucket, r.Checksum, r.Size, r.Digits, r.ComputeMS, r.Text)
	}
	args = append(args, now, now, worker)
	res, err := stmt.QueryContext(ctx, args...)
	return f.completed(ctx, res, err, texts, len(cs), worker)
}

// completeStatementPG is the text of completeChunkPG's statement for rows rows.
func completeStatementPG(rows int) string {
	var q strings.Builder
	q.WriteString(`UPDATE factorials SET status = 'done', progress = 1, "key" = v_key, bucket = v_bucket,
			checksum = v_checksum, size = v_size, digits = v_digits, compute_ms = v_ms, result_text = v_text,
			error = '', computed_at = $` + strconv.Itoa(8*rows+1) + `::timestamptz, updated_at = $` + strconv.Itoa(8*rows+2) + `::timestamptz,
			unannounced = 1
		FROM (VALUES `)
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		p := 8*i + 1
		fmt.Fprintf(&q, "($%d::bigint, $%d::text, $%d::text, $%d::text, $%d::bigint, $%d::bigint, $%d::bigint, $%d::text)",
			p, p+1, p+2, p+3, p+4, p+5, p+6, p+7)
	}
	// The values' columns have names of their own, so that RETURNING's are not ambiguous.
	q.WriteString(`) AS v (v_number, v_key, v_bucket, v_checksum, v_size, v_digits, v_ms, v_text)
		WHERE factorials.number = v_number AND factorials.status = 'computing' AND factorials.worker = $` + strconv.Itoa(8*rows+3) + `::text
		RETURNING ` + columnsButText)
	return q.String()
}

// queryPrepared runs the prepared statement of key (text()) on db with args, and scans the rows it
// returns into dst: PostgreSQL's hot statements, and GetMany on SQLite.
func (f *Factorials) queryPrepared(ctx context.Context, db *bun.DB, key string, text func() string, dst any, args ...any) error {
	stmt, err := f.stmts.get(ctx, db.DB, key, text)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	return db.ScanRows(ctx, rows, dst)
}

// int64Array is ns as a PostgreSQL array literal, {1,2,3}.
func int64Array(ns []int64) string { return joinInts(ns, '{', '}') }

// jsonArray is ns as a JSON array, [1,2,3], for SQLite's json_each.
func jsonArray(ns []int64) string { return joinInts(ns, '[', ']') }

// joinInts writes ns in decimal, separated by commas, between open and close.
func joinInts(ns []int64, open, close byte) string {
	b := make([]byte, 0, 2+8*len(ns))
	b = append(b, open)
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(append(b, close))
}

// textArray is ss as a PostgreSQL array literal, each element quoted: {"a","b\"c"}.
func textArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if c := s[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// stmtCache holds prepared statements by a key (database/sql prepares each again on every
// connection it runs on, once).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the statement of key, preparing text() on db the first time. The lock is not
// held while preparing: a database that does not answer holds each caller only as long as
// its own context allows, not behind another's.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, key string, text func() string) (*sql.Stmt, error) {
	c.mu.Lock()
	s, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := db.PrepareContext(ctx, text())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.m[key]; ok { // prepared meanwhile by another caller
		_ = s.Close()
		return first, nil
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[key] = s
	return s, nil
}

// MarkAnnounced records that JetStream took the factorial.computed of each done number of
// ns (the outbox: until then the reconciler announces it again). The flag keeps the row's
// size, so SQLite overwrites it in place without writing its digits again (see the migration
// 20261127_unannounced_flag).
func (f *Factorials) MarkAnnounced(ctx context.Context, ns []int64, now time.Time) error {
	if len(ns) == 0 {
		return nil
	}
	err := f.relaxedSync(ctx, func(db bun.IDB, _ sqlQuerier) error {
		_, err := db.NewRaw(`UPDATE factorials SET unannounced = 0
		WHERE number IN (?) AND status = 'done' AND unannounced = 1`, bun.List(ns)).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark %d factorials announced: %w", len(ns), err)
	}
	return nil
}

// Unannounced lists done rows computed before `before` whose factorial.computed JetStream
// has not taken yet, oldest first, at most limit (which must be positive).
func (f *Factorials) Unannounced(ctx context.Context, before time.Time, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list unannounced factorials: limit %d is not positive", limit)
	}
	var recs []Record
	err := f.read.NewRaw(`SELECT `+columns+` FROM factorials
		WHERE status = 'done' AND unannounced = 1 AND computed_at < ?
		ORDER BY computed_at, number LIMIT ?`, dbTime(before), limit).Scan(ctx, &recs)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list unannounced factorials: %w", err)
	}
	for i := range recs {
		recs[i] = recs[i].utc()
	}
	return recs, nil
}

// lockOrder: the statements that write many rows (RequestBatch, ClaimBatch, CompleteBatch)
// take them in ascending order of number. PostgreSQL locks the rows of an INSERT … ON
// CONFLICT, even those its WHERE leaves as they are, and of an UPDATE … FROM (VALUES …), in
// the order of their input: two batches over the same numbers in opposite orders (two API
// replicas, or a calculator completing what clients ask for again) deadlocked, and one of
// them failed with 40P01. A deadlock left possible all the same (a plan that scans the table
// in its own order) is transient, as Unavailable says.

// distinct keeps the first of the elements with the same key, in order.
func distinct[T any](xs []T, key func(T) int64) []T {
	seen := make(map[int64]bool, len(xs))
	out := slices.DeleteFunc(slices.Clone(xs), func(x T) bool {
		k := key(x)
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
	return out
}

// QueuedLarge sums the estimated cost of the large-lane requests that are pending or
// computing (what is queued of heavy work), and counts those client asked for: what
// admission control holds to its budget and its per-client cap. One statement.
func (f *Factorials) QueuedLarge(ctx context.Context, client string) (total time.Duration, mine int, err error) {
	var row struct {
		Total int64 `bun:"total"`
		Mine  int   `bun:"mine"`
	}
	err = f.read.NewRaw(`SELECT coalesce(sum(cost_us), 0) AS total,
			coalesce(sum(CASE WHEN client = ? THEN 1 ELSE 0 END), 0) AS mine
		FROM factorials WHERE status IN ('pending', 'computing') AND number > ?`,
		client, int64(events.SmallMaxNumber)).Scan(ctx, &row)
	if err != nil {
		return 0, 0, fmt.Errorf("sum the queued large requests: %w", err)
	}
	return time.Duration(row.Total) * time.Microsecond, row.Mine, nil
}
