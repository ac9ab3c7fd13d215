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
// clients be answered per disk sync; PostgreSQL is spared the round trips (see group).
type requestBatcher struct {
	records RequestRecorder
	group   group[database.NewRequest, requestOutcome]
}

type requestOutcome struct {
	res database.Requested
	err error
}

// request records a request for n by client and returns the record, and whether this
// request made it pending. It returns when the record is written (or failed), or when ctx
// ends; a request whose caller left may still be recorded.
func (b *requestBatcher) request(ctx context.Context, n int64, client string) (database.Record, bool, error) {
	out, err := b.group.do(ctx, database.NewRequest{Number: n, Client: client}, maxRequestBatch, b.record)
	if err != nil {
		return database.Record{}, false, err
	}
	return out.res.Record, out.res.Created, out.err
}

func (b *requestBatcher) record(reqs []database.NewRequest) []requestOutcome {
	ctx, cancel := context.WithTimeout(context.Background(), requestDBTimeout)
	defer cancel()
	res, err := b.records.RequestBatch(ctx, reqs, time.Now().UTC())
	byNumber := make(map[int64]database.Requested, len(res))
	for _, r := range res {
		byNumber[r.Record.Number] = r
	}
	// A number asked for twice in one batch: the first asker made it pending.
	first := make(map[int64]bool, len(reqs))
	outs := make([]requestOutcome, len(reqs))
	for i, req := range reqs {
		if err != nil {
			outs[i].err = fmt.Errorf("record request %d: %w", req.Number, err)
			continue
		}
		outs[i].res = byNumber[req.Number]
		outs[i].res.Created = outs[i].res.Created && !first[req.Number]
		first[req.Number] = true
	}
	return outs
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
// round trip, a parse and a plan.
type readBatcher struct {
	records RecordReader
	group   group[int64, readOutcome]
}

type readOutcome struct {
	rec database.Record
	err error
}

// get returns the record of n, or an error wrapping database.ErrNotFound, as
// database.Factorials.Get does; it returns early when ctx ends.
func (b *readBatcher) get(ctx context.Context, n int64) (database.Record, error) {
	out, err := b.group.do(ctx, n, maxReadBatch, b.read)
	if err != nil {
		return database.Record{}, err
	}
	return out.rec, out.err
}

func (b *readBatcher) read(ns []int64) []readOutcome {
	// Each waiter waits at most dbWait (results.record); the statement no longer.
	ctx, cancel := context.WithTimeout(context.Background(), dbWait)
	defer cancel()
	recs, err := b.records.GetMany(ctx, ns)
	byNumber := make(map[int64]database.Record, len(recs))
	for _, rec := range recs {
		byNumber[rec.Number] = rec
	}
	outs := make([]readOutcome, len(ns))
	for i, n := range ns {
		switch rec, ok := byNumber[n]; {
		case err != nil:
			outs[i].err = fmt.Errorf("get factorial %d: %w", n, err)
		case !ok:
			outs[i].err = fmt.Errorf("get factorial %d: %w", n, database.ErrNotFound)
		default:
			outs[i].rec = rec
		}
	}
	return outs
}

// group gathers concurrent calls into batches: while one batch runs, the calls that arrive
// queue up, and the next batch takes all of them (at most max). It needs no goroutine of its
// own: a flush runs while calls wait and stops when none do, so a call that comes alone goes
// at once, with no window to wait for. The zero value is ready.
type group[In, Out any] struct {
	mu       sync.Mutex
	waiting  []groupCall[In, Out]
	flushing bool
}

type groupCall[In, Out any] struct {
	in   In
	done chan Out // buffered: a flush never blocks on a caller that left
}

// do queues in and returns its outcome from run, which takes a batch and returns one outcome
// per input, in order; or ctx's error if ctx ends first (in may still be run). Every call of
// one group passes the same max and run.
func (g *group[In, Out]) do(ctx context.Context, in In, max int, run func([]In) []Out) (Out, error) {
	c := groupCall[In, Out]{in: in, done: make(chan Out, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	if !g.flushing {
		g.flushing = true
		go g.flush(max, run)
	}
	g.mu.Unlock()
	select {
	case out := <-c.done:
		return out, nil
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// flush runs what waits, batch after batch, until nothing does.
func (g *group[In, Out]) flush(max int, run func([]In) []Out) {
	for {
		g.mu.Lock()
		k := min(len(g.waiting), max)
		if k == 0 {
			g.flushing = false
			g.mu.Unlock()
			return
		}
		batch := g.waiting[:k:k]
		g.waiting = g.waiting[k:]
		g.mu.Unlock()
		ins := make([]In, k)
		for i, c := range batch {
			ins[i] = c.in
		}
		for i, out := range run(ins) {
			batch[i].done <- out
		}
	}
}
