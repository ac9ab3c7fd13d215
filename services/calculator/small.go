package calculator

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// handleSmall handles a batch of the small lane: the requests are claimed in one statement,
// computed one after the other in this goroutine, and handed as they are computed to a
// recorder (smallRecorder) that completes what has been computed in one statement, publishes
// the factorial.computed of those together and acks them, while the computing goes on.
//
// Tracing: the batch is one span, linked to the trace of each request in it (a span per
// request would cost more than its computation), with claim, compute and record spans under
// it; each result's factorial.computed is published in a span of the request's own trace,
// linked back to the batch, so every request's trace reaches the calculator.
func (w *worker) handleSmall(ctx context.Context, msgs []jetstream.Msg) {
	var (
		reqs  []request
		links []trace.Link
	)
	for _, m := range msgs {
		req, kind, reason := w.read(m)
		req.ctx = telemetry.Extract(ctx, m.Headers())
		switch {
		case kind != "":
			w.deadLetter(req.ctx, m, kind, reason, w.log)
		case req.n > w.maxNumber:
			w.outOfRange(req.ctx, req, telemetry.Bind(req.ctx, w.log.With("number", req.n, "lane", req.lane)))
		default:
			reqs = append(reqs, req)
			links = append(links, trace.LinkFromContext(req.ctx))
		}
	}
	if len(reqs) == 0 {
		return
	}
	ctx, span := w.tracer.Start(ctx, events.SubjectRequested+"."+string(events.LaneSmall)+" process",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(reqs))))
	defer span.End()
	ns := make([]int64, len(reqs))
	for i, r := range reqs {
		ns[i] = r.n
	}
	now := w.now()
	cctx, claimSpan := w.tracer.Start(ctx, "claim")
	claim := w.claimID() // one for the batch: it is claimed, and recorded, together
	for i := range reqs {
		reqs[i].claim = claim
	}
	claimed, err := w.records.ClaimBatch(cctx, ns, claim, now, now.Add(-w.lease))
	endSpan(claimSpan, err)
	if err != nil {
		// The database is down or slow: try again later; never mark anything failed for it.
		w.log.Warn("claim a batch", "count", len(ns), "err", err)
		w.releaseAbandoned(ctx, ns, claim, err)
		for _, r := range reqs {
			w.metrics.outcome(r.lane, "unavailable")
			_ = r.msg.NakWithDelay(w.retryDelay)
		}
		return
	}
	byNumber := make(map[int64]database.Record, len(claimed))
	for _, rec := range claimed {
		byNumber[rec.Number] = rec
	}

	// The first request of each claimed number computes it; the others (not claimed, or a
	// second copy in this batch) are skipped as duplicates of what stands.
	var mine, others []request
	for _, r := range reqs {
		if _, ok := byNumber[r.n]; ok {
			mine = append(mine, r)
			delete(byNumber, r.n)
		} else {
			others = append(others, r)
		}
	}
	w.skipMany(ctx, others)

	beat := w.beatSmall(ctx, mine)
	defer beat.stop() // after recorder.close: until every delivery is acked or given back

	_, computeSpan := w.tracer.Start(ctx, "compute")
	recorder := w.newSmallRecorder(ctx, beat)
	computed := 0
	for i, req := range mine {
		log := telemetry.Bind(req.ctx, w.log.With("number", req.n, "lane", req.lane, "delivery", req.copies))
		if ctx.Err() != nil {
			for _, r := range mine[i:] {
				beat.settle(r.n)
				w.giveBack(ctx, r, ctx.Err(), log)
			}
			break
		}
		rec := claimedRecord(claimed, req.n)
		if rec.Attempts > w.maxAttempts {
			beat.settle(req.n)
			w.fail(req.ctx, req, rec.Attempts-1, fmt.Sprintf("gave up after %d attempts; the last one failed: %s", w.maxAttempts, rec.Error), log)
			continue
		}
		start := time.Now()
		res, err := w.computeSmall(ctx, req.n)
		if err != nil {
			beat.settle(req.n)
			w.giveBack(ctx, req, err, log)
			continue
		}
		w.metrics.seconds.WithLabelValues(string(req.lane)).Observe(time.Since(start).Seconds())
		recorder.add(smallResult{req, res})
		computed++
	}
	computeSpan.SetAttributes(attribute.Int("factorial.count", computed))
	computeSpan.End()
	recorder.close()
}

// smallRecorder records the results of a small-lane batch as they are computed, beside the
// computing: it takes everything computed so far and finishes it (finishSmall: one
// statement, the announcements published together, the acks), the first result of a batch
// at once, then at most one statement per smallChunk while the computing goes on (the
// results gather meanwhile), and what is left as soon as the computing ends. So no result
// waits for the database round trips of the results before it (before, the batch was
// computed in chunks of 20 ms, each recorded and announced before the next was computed: a
// batch of 60 results paid three or four round trips to PostgreSQL and NATS one after the
// other, on the way of its last results), and the statements stay few: under SQLite's one
// writer every statement is a disk sync that the POSTs queue behind (recording whenever
// idle made POST p99 go from 250 to 450 ms embedded, and a few POSTs 503).
type smallRecorder struct {
	mu      sync.Mutex
	pending []smallResult
	closed  bool
	kick    chan struct{} // capacity 1: something was added, or the batch is over
	over    chan struct{} // closed when the batch is over: nothing more will be added
	done    chan struct{} // closed when everything added is recorded
}

// smallChunk is the least time between two statements of one batch's recorder while the
// batch is being computed.
const smallChunk = 20 * time.Millisecond

// newSmallRecorder starts a recorder for one batch; close waits for it. What it has recorded
// and acked, beat no longer keeps alive.
func (w *worker) newSmallRecorder(ctx context.Context, beat *smallBeat) *smallRecorder {
	r := &smallRecorder{kick: make(chan struct{}, 1), over: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var last time.Time // when the last statement started
		for {
			<-r.kick
			for {
				r.mu.Lock()
				n, closed := len(r.pending), r.closed
				r.mu.Unlock()
				if n == 0 {
					if closed {
						return
					}
					break
				}
				if wait := smallChunk - time.Since(last); !closed && wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-r.over:
					}
					t.Stop()
				}
				r.mu.Lock()
				chunk := r.pending
				r.pending = nil
				r.mu.Unlock()
				last = time.Now()
				// Recorded even when shutting down: the work is done, and the claims are ours.
				for _, c := range chunk {
					beat.settle(c.req.n) // acked or given back by finishSmall
				}
				w.finishSmall(ctx, chunk)
			}
		}
	}()
	return r
}

func (r *smallRecorder) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// add hands a computed result to the recorder.
func (r *smallRecorder) add(res smallResult) {
	r.mu.Lock()
	r.pending = append(r.pending, res)
	r.mu.Unlock()
	r.signal()
}

// close waits until every result added is recorded, announced and acked.
func (r *smallRecorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	close(r.over)
	r.signal()
	<-r.done
}

// smallBeat keeps a small-lane batch alive while it runs, as heartbeat does a large
// computation: every w.beat it tells JetStream that each delivery not yet acked or given
// back is in progress, and records a heartbeat on the batch's claim (one statement for all
// its rows not yet recorded). A batch is claimed once and then computed number after number;
// without this, one that outlasts the ack wait (results stored as objects on a slow store)
// had its tail delivered again and, the claims' heartbeats being as old as the claim, taken
// over and computed twice. Most batches end before the first beat, and cost nothing.
type smallBeat struct {
	mu   sync.Mutex        // held while the deliveries are told in progress: see settle
	live map[int64]request // by number: deliveries of this batch still outstanding
	stop func()
}

// beatSmall starts keeping reqs (claimed together, under one name) alive; stop ends it.
func (w *worker) beatSmall(ctx context.Context, reqs []request) *smallBeat {
	b := &smallBeat{live: make(map[int64]request, len(reqs)), stop: func() {}}
	if len(reqs) == 0 {
		return b
	}
	for _, r := range reqs {
		b.live[r.n] = r
	}
	claim := reqs[0].claim
	b.stop = every(ctx, w.beat, func(ctx context.Context) bool {
		b.mu.Lock()
		for _, r := range b.live {
			_ = r.msg.InProgress()
		}
		b.mu.Unlock()
		if _, err := w.records.HeartbeatClaim(ctx, claim, w.now()); err != nil && ctx.Err() == nil {
			w.log.Warn("record the heartbeat of a small batch", "claim", claim, "err", err)
		}
		return true
	})
	return b
}

// settle notes that n's delivery is about to be acked or given back: it is no longer kept
// alive. Called before the ack or nak, and under the lock the beat tells the deliveries in
// progress with, so no InProgress follows a nak (it would put off the redelivery by the whole
// ack wait).
func (b *smallBeat) settle(n int64) {
	b.mu.Lock()
	delete(b.live, n)
	b.mu.Unlock()
}

type smallResult struct {
	req request
	res database.Result
}

func claimedRecord(claimed []database.Record, n int64) database.Record {
	for _, r := range claimed {
		if r.Number == n {
			return r
		}
	}
	return database.Record{}
}

// skipMany handles the deliveries of a batch that did not get a claim, as skip does each.
func (w *worker) skipMany(ctx context.Context, reqs []request) {
	if len(reqs) == 0 {
		return
	}
	ns := make([]int64, len(reqs))
	for i, r := range reqs {
		ns[i] = r.n
	}
	recs, err := w.records.GetMany(ctx, ns)
	if err != nil {
		w.log.Warn("read the records of duplicates", "err", err)
		for _, r := range reqs {
			_ = r.msg.NakWithDelay(w.retryDelay)
		}
		return
	}
	byNumber := make(map[int64]database.Record, len(recs))
	for _, rec := range recs {
		byNumber[rec.Number] = rec
	}
	for _, r := range reqs {
		rec, ok := byNumber[r.n]
		if !ok {
			rec.Status = database.StatusComputing // claimed by this very batch: not finished yet
		}
		w.skip(ctx, r, rec, w.log.With("number", r.n, "lane", r.lane))
	}
}

// computeSmall computes n! in this goroutine, checks it, and returns the result with the
// digits in the record or, when they are more than rowMax bytes, stored as an object.
func (w *worker) computeSmall(ctx context.Context, n int64) (database.Result, error) {
	start := time.Now()
	var text []byte
	if small, ok := w.engine.(SmallEngine); ok {
		text = small.AppendText(nil, uint64(n))
	} else {
		var buf bytes.Buffer
		if _, err := w.engine.Write(ctx, uint64(n), &buf, func(float64) {}); err != nil {
			return database.Result{}, failedAt(stepCompute, fmt.Errorf("engine: %w", err))
		}
		text = buf.Bytes()
	}
	elapsed := time.Since(start)
	check := newTextCheck()
	_, _ = check.Write(text)
	size := int64(len(text))
	checksum, err := check.verify(n, size, size)
	if err != nil {
		return database.Result{}, badDigits(err)
	}
	res := database.Result{Checksum: checksum, Size: size, Digits: size, ComputeMS: elapsed.Milliseconds()}
	if size <= w.rowMax {
		res.Text = string(text)
		return res, nil
	}
	key := ResultKey(n)
	if _, err := w.store.Put(ctx, key, bytes.NewReader(text)); err != nil {
		return database.Result{}, storeFailed(stepStore, fmt.Errorf("store %s: %w", key, err))
	}
	if err := w.verifyStored(ctx, key, checksum); err != nil {
		return database.Result{}, err
	}
	res.Key, res.Bucket = key, w.store.Bucket()
	return res, nil
}

// finishSmall records a chunk of results in one statement, publishes their
// factorial.computed together, and acks their deliveries.
func (w *worker) finishSmall(ctx context.Context, chunk []smallResult) {
	if len(chunk) == 0 {
		return
	}
	cs := make([]database.Completion, len(chunk))
	for i, c := range chunk {
		cs[i] = database.Completion{Number: c.req.n, Result: c.res}
	}
	// Recorded even when shutting down: the work is done, and the claims are ours.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	sctx, recordSpan := w.tracer.Start(rctx, "record", trace.WithAttributes(attribute.Int("factorial.count", len(cs))))
	recs, err := w.records.CompleteBatch(sctx, chunk[0].req.claim, cs, w.now())
	endSpan(recordSpan, err)
	if err != nil {
		for _, c := range chunk {
			w.giveBack(ctx, c.req, recordFailed(fmt.Errorf("record the result of %d: %w", c.req.n, err)), w.log.With("number", c.req.n))
		}
		return
	}
	reqCtx := make(map[int64]context.Context, len(chunk)+1)
	for _, c := range chunk {
		reqCtx[c.req.n] = c.req.ctx
	}
	done := make(map[int64]bool, len(recs))
	msgs := make([]natsbus.Msg, len(recs))
	spans := make([]trace.Span, len(recs))
	batch := trace.LinkFromContext(ctx)
	for i, rec := range recs {
		done[rec.Number] = true
		msgs[i], _ = computedMsg(rec) // a done record always encodes
		pctx, ok := reqCtx[rec.Number]
		if !ok {
			pctx = ctx
		}
		pctx, spans[i] = w.tracer.Start(pctx, msgs[i].Subject+" publish",
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(batch))
		msgs[i].Header = telemetry.Headers(pctx)
	}
	errs, failed := w.pub.PublishAll(rctx, msgs)
	for i, span := range spans {
		endSpan(span, errs[i])
	}
	if failed > 0 {
		w.metrics.publishFailures.WithLabelValues("computed").Add(float64(failed))
		w.log.Warn("publish factorial.computed; the reconciler will announce them", "failed", failed, "of", len(msgs), "err", natsbus.FirstError(errs))
	}
	announced := make([]int64, 0, len(recs))
	for i, err := range errs {
		if err == nil {
			announced = append(announced, recs[i].Number)
		}
	}
	w.announced.done(announced...)
	for _, c := range chunk {
		if done[c.req.n] {
			w.metrics.outcome(c.req.lane, "done")
		} else {
			w.log.Warn("another calculator took this number over; its result stands", "number", c.req.n)
			w.metrics.outcome(c.req.lane, "duplicate")
		}
		_ = c.req.msg.Ack()
	}
}
