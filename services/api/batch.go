package api

import (
	"context"
	"fmt"
	"time"

	"github.com/factorial-service/factorial/platform/batch"
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
// clients be answered per disk sync; PostgreSQL is spared the round trips.
//
// A request the statement made pending is queued for publication by the batch itself, not
// by its caller: the statement may outlive the caller's wait (dbWait < requestDBTimeout), and
// a row committed after its POST was answered 503 must still be published, or the retry finds
// it pending (202, made nothing pending) and the work waits for the reconciler. A request
// whose caller left before its statement started is not recorded (batch.Group drops it).
type requestBatcher struct {
	records RequestRecorder
	pending func(context.Context, database.Record) // queues the publication of a new pending record
	group   *batch.Group[requestIn, requestOutcome]
}

// newRequestBatcher returns a batcher recording through records; pending, when not nil, is
// called for each record a statement made pending, with the context of the request that made
// it (no longer cancelled: the request may be over) and must not block.
func newRequestBatcher(records RequestRecorder, pending func(context.Context, database.Record)) *requestBatcher {
	b := &requestBatcher{records: records, pending: pending}
	b.group = batch.New(maxRequestBatch, b.record)
	return b
}

// requestIn is a request waiting for its statement, with its caller's context (its trace and
// request id go with the publication).
type requestIn struct {
	ctx context.Context
	req database.NewRequest
}

type requestOutcome struct {
	res database.Requested
	err error
}

// request records a request for n by client and returns the record, and whether this
// request made it pending (its publication is queued then). It returns when the record is
// written (or failed), or when ctx ends; a request whose caller left after its statement
// started may still be recorded, and published.
func (b *requestBatcher) request(ctx context.Context, n int64, client string) (database.Record, bool, error) {
	out, err := b.group.Do(ctx, requestIn{ctx: ctx, req: database.NewRequest{Number: n, Client: client}})
	if err != nil {
		return database.Record{}, false, err
	}
	return out.res.Record, out.res.Created, out.err
}

func (b *requestBatcher) record(ins []requestIn) []requestOutcome {
	ctx, cancel := context.WithTimeout(context.Background(), requestDBTimeout)
	defer cancel()
	reqs := make([]database.NewRequest, len(ins))
	for i, in := range ins {
		reqs[i] = in.req
	}
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
		if outs[i].res.Created && b.pending != nil {
			b.pending(context.WithoutCancel(ins[i].ctx), outs[i].res.Record)
		}
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
	group   *batch.Group[int64, readOutcome]
}

func newReadBatcher(records RecordReader) *readBatcher {
	b := &readBatcher{records: records}
	b.group = batch.New(maxReadBatch, b.read)
	return b
}

type readOutcome struct {
	rec database.Record
	err error
}

// get returns the record of n, or an error wrapping database.ErrNotFound, as
// database.Factorials.Get does; it returns early when ctx ends.
func (b *readBatcher) get(ctx context.Context, n int64) (database.Record, error) {
	out, err := b.group.Do(ctx, n)
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
