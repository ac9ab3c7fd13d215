package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/factorial-service/factorial/platform/database"
)

// RequestRecorder records many requests in one statement (database.Factorials.RequestBatch).
type RequestRecorder interface {
	RequestBatch(ctx context.Context, reqs []database.NewRequest, now time.Time) ([]database.Requested, error)
}

// Bounds of request batching.
const (
	maxRequestBatch  = 256             // requests recorded by one statement
	requestDBTimeout = 5 * time.Second // for one statement; a waiter may give up sooner
)

// requestBatcher records concurrent POSTs together: while one statement runs, the requests
// that arrive queue up, and the next statement records all of them (group commit). Under
// SQLite's synchronous=FULL every commit waits for the disk, so this is what lets many
// clients be answered per disk sync; PostgreSQL is spared the round trips. It needs no
// goroutine of its own: a flush runs while there are requests waiting, and stops when there
// are none.
type requestBatcher struct {
	records RequestRecorder

	mu       sync.Mutex
	waiting  []*waitingRequest
	flushing bool
}

type waitingRequest struct {
	req  database.NewRequest
	done chan requestOutcome // buffered: the flush never blocks on a waiter that left
}

type requestOutcome struct {
	res database.Requested
	err error
}

// request records a request for n by client and returns the record, and whether this
// request made it pending. It returns when the record is written (or failed), or when ctx
// ends; a request whose caller left may still be recorded.
func (b *requestBatcher) request(ctx context.Context, n int64, client string) (database.Record, bool, error) {
	w := &waitingRequest{req: database.NewRequest{Number: n, Client: client}, done: make(chan requestOutcome, 1)}
	b.mu.Lock()
	b.waiting = append(b.waiting, w)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case out := <-w.done:
		return out.res.Record, out.res.Created, out.err
	case <-ctx.Done():
		return database.Record{}, false, ctx.Err()
	}
}

// flush records what waits, batch after batch, until nothing does.
func (b *requestBatcher) flush() {
	for {
		b.mu.Lock()
		k := min(len(b.waiting), maxRequestBatch)
		if k == 0 {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		batch := b.waiting[:k:k]
		b.waiting = b.waiting[k:]
		b.mu.Unlock()
		b.record(batch)
	}
}

func (b *requestBatcher) record(batch []*waitingRequest) {
	reqs := make([]database.NewRequest, len(batch))
	for i, w := range batch {
		reqs[i] = w.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestDBTimeout)
	defer cancel()
	res, err := b.records.RequestBatch(ctx, reqs, time.Now().UTC())
	byNumber := make(map[int64]database.Requested, len(res))
	for _, r := range res {
		byNumber[r.Record.Number] = r
	}
	// A number asked for twice in one batch: the first asker made it pending.
	first := make(map[int64]bool, len(batch))
	for _, w := range batch {
		out := requestOutcome{err: err}
		if err == nil {
			out.res = byNumber[w.req.Number]
			out.res.Created = out.res.Created && !first[w.req.Number]
			first[w.req.Number] = true
		} else {
			out.err = fmt.Errorf("record request %d: %w", w.req.Number, err)
		}
		w.done <- out
	}
}

// RecordReader reads many records in one statement (database.Factorials.GetMany).
type RecordReader interface {
	GetMany(ctx context.Context, ns []int64) ([]database.Record, error)
}

// maxReadBatch bounds the records read by one statement.
const maxReadBatch = 256

// readBatcher reads the records of concurrent requests together, as requestBatcher records
// them: while one statement runs the reads that arrive queue up, and the next statement
// reads all of them (`WHERE number IN (…)`). Under a crowd every GET reads its record once
// before it waits (pending) or answers; one statement per GET was most of the statements
// the database ran (10,000 of 15,500 in make bench-load's 1..10,000, distributed), each a
// round trip, a parse and a plan. A read that comes alone goes at once: nothing waits for
// a window.
type readBatcher struct {
	records RecordReader

	mu       sync.Mutex
	waiting  []*waitingRead
	flushing bool
}

type waitingRead struct {
	n    int64
	done chan readOutcome // buffered: the flush never blocks on a waiter that left
}

type readOutcome struct {
	rec database.Record
	err error
}

// get returns the record of n, or an error wrapping database.ErrNotFound, as
// database.Factorials.Get does; it returns early when ctx ends.
func (b *readBatcher) get(ctx context.Context, n int64) (database.Record, error) {
	w := &waitingRead{n: n, done: make(chan readOutcome, 1)}
	b.mu.Lock()
	b.waiting = append(b.waiting, w)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case out := <-w.done:
		return out.rec, out.err
	case <-ctx.Done():
		return database.Record{}, ctx.Err()
	}
}

// flush reads what waits, batch after batch, until nothing does.
func (b *readBatcher) flush() {
	for {
		b.mu.Lock()
		k := min(len(b.waiting), maxReadBatch)
		if k == 0 {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		batch := b.waiting[:k:k]
		b.waiting = b.waiting[k:]
		b.mu.Unlock()
		b.read(batch)
	}
}

func (b *readBatcher) read(batch []*waitingRead) {
	ns := make([]int64, len(batch))
	for i, w := range batch {
		ns[i] = w.n
	}
	// Each waiter waits at most dbWait (results.record); the statement no longer.
	ctx, cancel := context.WithTimeout(context.Background(), dbWait)
	defer cancel()
	recs, err := b.records.GetMany(ctx, ns)
	byNumber := make(map[int64]database.Record, len(recs))
	for _, rec := range recs {
		byNumber[rec.Number] = rec
	}
	for _, w := range batch {
		var out readOutcome
		switch rec, ok := byNumber[w.n]; {
		case err != nil:
			out.err = fmt.Errorf("get factorial %d: %w", w.n, err)
		case !ok:
			out.err = fmt.Errorf("get factorial %d: %w", w.n, database.ErrNotFound)
		default:
			out.rec = rec
		}
		w.done <- out
	}
}
