package calculator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// Engine computes n! and writes its decimal text to w, reporting progress from 0 to 1.
type Engine interface {
	Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (digits int64, err error)
}

// SmallEngine is an Engine that also computes small n! in the calling goroutine, into a
// byte slice: what the small lane uses when the engine has it (starting goroutines and a pipe
// would cost more than the product). factorial.AppendText is one.
type SmallEngine interface {
	Engine
	AppendText(dst []byte, n uint64) []byte
}

// Factorial is the service's engine: factorial.Write, and factorial.AppendText for small n.
var Factorial SmallEngine = engine{}

var _ CoresEngine = engine{}

type engine struct{}

func (engine) Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
	return factorial.Write(ctx, n, w, progress)
}

func (engine) AppendText(dst []byte, n uint64) []byte { return factorial.AppendText(dst, n) }

func (engine) WriteCores(ctx context.Context, n uint64, w io.Writer, progress func(float64), cores int) (int64, error) {
	return factorial.WriteCores(ctx, n, w, progress, cores)
}

// CoresEngine is an Engine that can also be held to a number of cores: what the large lane
// uses when the engine has it, so that a large computation leaves the small lane a core
// (Config.LargeCores). factorial.WriteCores is one.
type CoresEngine interface {
	Engine
	WriteCores(ctx context.Context, n uint64, w io.Writer, progress func(float64), cores int) (int64, error)
}

// EngineFunc adapts a function to Engine.
type EngineFunc func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error)

// Write calls f.
func (f EngineFunc) Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
	return f(ctx, n, w, progress)
}

// Records is the calculator's view of the request records.
type Records interface {
	Claim(ctx context.Context, n int64, worker string, now, staleBefore time.Time) (database.Record, bool, error)
	Heartbeat(ctx context.Context, n int64, worker string, progress float64, now time.Time) error
	HeartbeatClaim(ctx context.Context, worker string, now time.Time) (int64, error)
	Complete(ctx context.Context, n int64, worker string, r database.Result, now time.Time) (database.Record, error)
	Release(ctx context.Context, n int64, worker, reason string, now time.Time) error
	Fail(ctx context.Context, n int64, worker, reason string, now time.Time) (database.Record, error)
	FailPending(ctx context.Context, n int64, reason string, now time.Time) (database.Record, bool, error)
	Get(ctx context.Context, n int64) (database.Record, error)
	GetMany(ctx context.Context, ns []int64) ([]database.Record, error)
	ClaimBatch(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]database.Record, error)
	CompleteBatch(ctx context.Context, worker string, cs []database.Completion, now time.Time) ([]database.Record, error)
}

// ResultStore is where the decimal text goes.
type ResultStore interface {
	Put(ctx context.Context, key string, r io.Reader) (objectstore.Object, error)
	Open(ctx context.Context, key string) (objectstore.Reader, error)
	Bucket() string
}

// Publisher publishes events to JetStream under the caller's deadline.
type Publisher interface {
	Publish(ctx context.Context, m natsbus.Msg) error
	PublishAll(ctx context.Context, msgs []natsbus.Msg) (errs []error, failed int)
}

// publishTimeout bounds a publish the calculator waits for.
const publishTimeout = 5 * time.Second

// worker handles the requests of both lanes: claim the record, compute, store, verify,
// record, announce, ack.
type worker struct {
	id          string // the process's: each claim is named after it (claimID)
	claims      atomic.Uint64
	engine      Engine
	records     Records
	store       ResultStore
	pub         Publisher
	metrics     *metrics
	log         *slog.Logger
	maxNumber   int64
	maxAttempts int
	lease       time.Duration // a claim whose heartbeat is older than this is taken over
	beat        time.Duration // how often progress and the heartbeats are recorded
	retryDelay  time.Duration // before a delivery that failed is tried again
	rowMax      int64         // results of at most this many bytes live in the database row
	largeCores  int           // cores one large computation may use (0: all); see Config.LargeCores
	largeNice   int           // niceness of a large computation's thread (0: unchanged); see Config.LargeNice
	announced   *announcer    // records which announcements JetStream took
	running     *running      // computations in flight, to cancel
	tracer      trace.Tracer
	now         func() time.Time
}

// ResultKey is the object key of n!'s decimal text.
func ResultKey(n int64) string { return fmt.Sprintf("factorials/%d.txt", n) }

// handle handles a batch fetched from lane. When ctx ends (shutdown) the messages not yet
// handled are given back at once, for another replica.
func (w *worker) handle(ctx context.Context, lane events.Lane, msgs []jetstream.Msg) {
	if lane == events.LaneSmall {
		w.handleSmall(ctx, msgs)
		return
	}
	for i, m := range msgs {
		if ctx.Err() != nil {
			for _, rest := range msgs[i:] {
				_ = rest.Nak()
			}
			return
		}
		w.handleOne(ctx, lane, m)
	}
}

// request is a delivery that reads as a request.
type request struct {
	msg    jetstream.Msg
	n      int64
	lane   events.Lane
	copies uint64 // JetStream's delivery count
	// ctx is the handling's context with the request's own trace context and request id
	// (from its headers): what the small lane, which handles many in one span, announces
	// each result in.
	ctx context.Context
	// claim names the claim this handling holds (claimID): what its heartbeats, result,
	// release or failure are recorded as.
	claim string
}

// claimID names a new claim: the process's id and a counter. Matched by the record's worker,
// it lets only the computation that made a claim heartbeat, complete, release or fail it: one
// this process gave up (a request cancelled, then asked for again and claimed in another
// slot) can no longer send the later claim back or complete it.
func (w *worker) claimID() string {
	return w.id + "/" + strconv.FormatUint(w.claims.Add(1), 36)
}

// read checks that m is a request this calculator can compute. What it returns with a
// reason is a dead letter (see deadLetter); otherwise the request.
func (w *worker) read(m jetstream.Msg) (req request, kind, reason string) {
	lane, n, err := events.ParseRequestedSubject(m.Subject())
	if err != nil {
		return req, "subject", err.Error()
	}
	var payload events.Requested
	if err := events.Decode(m.Data(), &payload); err != nil {
		return req, "payload", err.Error()
	}
	if payload.Number != n {
		return req, "mismatch", fmt.Sprintf("payload number %d differs from the subject's %d", payload.Number, n)
	}
	req = request{msg: m, n: n, lane: lane, copies: 1}
	if md, err := m.Metadata(); err == nil {
		req.copies = md.NumDelivered
	}
	return req, "", ""
}

func (w *worker) handleOne(ctx context.Context, lane events.Lane, m jetstream.Msg) {
	req, kind, reason := w.read(m)
	if kind != "" {
		w.deadLetter(ctx, m, kind, reason, w.log)
		return
	}
	n := req.n
	// The request's trace (its headers carry the POST's context): claim, compute, store,
	// verify, record and announce are spans of it, and the log lines name it.
	ctx, span := w.tracer.Start(telemetry.Extract(ctx, m.Headers()), m.Subject()+" process",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(requestAttrs(req)...))
	defer span.End()
	req.ctx = ctx
	log := telemetry.Bind(ctx, w.log.With("number", n, "lane", lane, "delivery", req.copies))
	if n > w.maxNumber {
		w.outOfRange(ctx, req, log)
		return
	}

	now := w.now()
	cctx, claimSpan := w.tracer.Start(ctx, "claim")
	req.claim = w.claimID()
	rec, ok, err := w.records.Claim(cctx, n, req.claim, now, now.Add(-w.lease))
	endSpan(claimSpan, err)
	if err != nil {
		// The database is down or slow: try again later; never mark anything failed for it.
		log.Warn("claim", "err", err)
		w.releaseAbandoned(ctx, []int64{n}, req.claim, err)
		w.metrics.outcome(lane, "unavailable")
		_ = m.NakWithDelay(w.retryDelay)
		return
	}
	if !ok {
		w.skip(ctx, req, rec, log)
		return
	}
	if rec.Attempts > w.maxAttempts {
		reason := fmt.Sprintf("gave up after %d attempts: the calculator stopped each time before finishing (out of memory?)", w.maxAttempts)
		if rec.Error != "" {
			reason = fmt.Sprintf("gave up after %d attempts; the last one failed: %s", w.maxAttempts, rec.Error)
		}
		w.fail(ctx, req, rec.Attempts-1, reason, log)
		return
	}

	log.Info("computing", "attempt", rec.Attempts)
	w.metrics.inFlight.Inc()
	start := time.Now()
	res, err := w.compute(ctx, req, log)
	w.metrics.inFlight.Dec()
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		w.giveBack(ctx, req, err, log)
		return
	}
	w.metrics.seconds.WithLabelValues(string(lane)).Observe(time.Since(start).Seconds())

	rctx, recordSpan := w.tracer.Start(ctx, "record")
	rec, err = w.records.Complete(rctx, n, req.claim, res, w.now())
	endSpan(recordSpan, err)
	switch {
	case errors.Is(err, database.ErrNotClaimed):
		log.Warn("another calculator took this number over while it was stored; its result stands")
		w.metrics.outcome(lane, "duplicate")
		_ = m.Ack()
		return
	case err != nil:
		w.giveBack(ctx, req, recordFailed(fmt.Errorf("record result of %d: %w", n, err)), log)
		return
	}
	w.metrics.outcome(lane, "done")
	log.Info("computed", "digits", res.Digits, "compute_ms", res.ComputeMS)
	w.announce(ctx, rec, log)
	_ = m.Ack()
}

// releaseAbandoned gives back, uncounted, what a claim whose answer was lost may have
// claimed all the same: a claim cut short by a shutdown or its deadline can still be carried
// out by PostgreSQL, and would leave the numbers computing under a claim no one holds until
// the lease runs out, then computed in an attempt more. Release matches the claim's own id,
// so a claim that was not carried out releases nothing. Bounded as a whole: with the
// database away it gives up, and the lease does the rest.
func (w *worker) releaseAbandoned(ctx context.Context, ns []int64, claim string, err error) {
	if !errors.Is(err, context.Canceled) && !database.Unavailable(err) {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, n := range ns {
		// Tried twice: after a blip, the first try may get a pooled connection that died
		// with it (seen live: EOF, then the lease and an attempt more).
		rerr := w.records.Release(rctx, n, claim, "", w.now())
		if rerr != nil && !errors.Is(rerr, database.ErrNotClaimed) && rctx.Err() == nil {
			rerr = w.records.Release(rctx, n, claim, "", w.now())
		}
		if rerr != nil && !errors.Is(rerr, database.ErrNotClaimed) {
			w.log.Warn("release an abandoned claim; the lease will", "number", n, "err", rerr)
			return
		}
	}
}

// errDatabaseUnavailable marks a result that could not be recorded because the database did
// not answer (database.Unavailable): not a failed attempt, as a claim the database refuses is
// not one.
var errDatabaseUnavailable = errors.New("the database did not answer")

// recordFailed is the failure to record a computed result: the database not answering
// (failover, a reset connection, SQLite busy, a timeout) gives the work back uncounted;
// anything else is a failed attempt.
func recordFailed(err error) error {
	if database.Unavailable(err) {
		return fmt.Errorf("%w: %w", errDatabaseUnavailable, err)
	}
	return failedAt(stepRecord, err)
}

// errStorageUnavailable marks an attempt that failed because the object store did not answer
// (objectstore.Unavailable: down, restarting, cut off, overloaded): like a database that does
// not answer, not a failed attempt, or a restart of S3 would fail every request whose digits
// it was to store, for good, after CALCULATOR_MAX_ATTEMPTS tries a few seconds apart.
var errStorageUnavailable = errors.New("the object store did not answer")

// storeFailed is the failure of a step that writes or reads the object store: uncounted when
// the store did not answer, a failed attempt otherwise (access denied, a wrong checksum...).
func storeFailed(step string, err error) error {
	if objectstore.Unavailable(err) {
		return fmt.Errorf("%w: %w", errStorageUnavailable, failedAt(step, err))
	}
	return failedAt(step, err)
}

// giveBack releases a claim whose computation did not finish, so another replica (or this
// one) can take the number at once, and has the message delivered again: after the retry
// delay for a failure, at once for a shutdown. Neither a shutdown nor a database that did not
// answer counts as an attempt.
func (w *worker) giveBack(ctx context.Context, req request, err error, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	reason := publicReason(err)
	away := errors.Is(err, errDatabaseUnavailable) || errors.Is(err, errStorageUnavailable)
	if ctx.Err() != nil || away {
		reason = "" // shut down, or the database or the store is away: not failed
	}
	if rerr := w.records.Release(rctx, req.n, req.claim, reason, w.now()); rerr != nil && !errors.Is(rerr, database.ErrNotClaimed) {
		log.Warn("release claim", "err", rerr)
	}
	if errors.Is(err, errLostClaim) {
		if rec, gerr := w.records.Get(rctx, req.n); gerr == nil && rec.Status == database.StatusCancelled {
			err = errCancelled // the heartbeat found the claim gone: cancelled, not taken over
		}
	}
	switch {
	case errors.Is(err, errCancelled):
		log.Info("cancelled; stopped computing")
		w.metrics.outcome(req.lane, "cancelled")
		_ = req.msg.Ack()
	case errors.Is(err, errLostClaim):
		log.Warn("another calculator took this number over; stopping")
		_ = req.msg.Ack()
	case ctx.Err() != nil:
		// The delay keeps it from going straight back to this replica's own pull request,
		// which is being drained.
		_ = req.msg.NakWithDelay(time.Second)
	case away:
		log.Warn("not counted as an attempt, it will be tried again", "err", err) // err names the database or the store
		w.metrics.outcome(req.lane, "unavailable")
		_ = req.msg.NakWithDelay(w.retryDelay)
	default:
		log.Warn("attempt failed; it will be tried again", "err", err)
		w.metrics.outcome(req.lane, "retry")
		_ = req.msg.NakWithDelay(w.retryDelay)
	}
}

// skip handles a delivery for a number this worker could not claim. A finished number's
// delivery is acked (an announcement that was lost is the reconciler's: the announced mark
// says which). A number another calculator is computing keeps its message: it comes back
// after the lease, so it is still there if that calculator dies.
func (w *worker) skip(ctx context.Context, req request, rec database.Record, log *slog.Logger) {
	log.Debug("not claimed", "status", rec.Status)
	if rec.Status == database.StatusCancelled {
		w.metrics.outcome(req.lane, "cancelled")
	} else {
		w.metrics.outcome(req.lane, "duplicate")
	}
	switch rec.Status {
	case database.StatusDone, database.StatusFailed, database.StatusCancelled:
		_ = req.msg.Ack()
	default:
		_ = req.msg.NakWithDelay(w.lease)
	}
}

func (w *worker) fail(ctx context.Context, req request, attempts int, reason string, log *slog.Logger) {
	log.Error("failed", "reason", reason)
	rec, err := w.records.Fail(ctx, req.n, req.claim, reason, w.now())
	if err != nil {
		log.Warn("record failure", "err", err)
		_ = req.msg.NakWithDelay(w.retryDelay)
		return
	}
	w.metrics.outcome(req.lane, "failed")
	w.announceFailed(ctx, req.n, attempts, reason, rec.UpdatedAt, log)
	_ = req.msg.Ack()
}

func (w *worker) announceFailed(ctx context.Context, n int64, attempts int, reason string, at time.Time, log *slog.Logger) {
	payload, err := events.Encode(events.Failed{Number: n, Error: reason, Attempts: max(attempts, 1), FailedAt: at.UTC()})
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		err = w.pub.Publish(pctx, natsbus.Msg{Subject: events.SubjectFailed, Data: payload, Header: telemetry.Headers(ctx)})
	}
	if err != nil {
		w.metrics.publishFailures.WithLabelValues("failed").Inc()
		log.Warn("publish factorial.failed", "err", err)
	}
}

// computedMsg is the factorial.computed event of a done record. Its id names one completion
// (n, the checksum and computed_at, which the database keeps to the microsecond): JetStream
// keeps one copy of the announcements of one completion (the worker's and the reconciler's),
// while a recomputation of n inside the duplicate window, with the same digits, is announced.
func computedMsg(rec database.Record) (natsbus.Msg, error) {
	computedAt := rec.UpdatedAt
	if rec.ComputedAt != nil {
		computedAt = *rec.ComputedAt
	}
	created := rec.CreatedAt.UTC()
	payload, err := events.Encode(events.Computed{
		Number: rec.Number, Status: events.StatusDone, Key: rec.Key, Bucket: rec.Bucket,
		Checksum: rec.Checksum, Size: rec.Size, Digits: rec.Digits, ComputeMS: rec.ComputeMS,
		ComputedAt: computedAt.UTC(), CreatedAt: &created, Text: rec.Text,
	})
	if err != nil {
		return natsbus.Msg{}, err
	}
	return natsbus.Msg{Subject: events.SubjectComputed, Data: payload,
		ID: fmt.Sprintf("computed/%d/%s/%d", rec.Number, rec.Checksum[:min(16, len(rec.Checksum))], computedAt.UnixMicro())}, nil
}

// announce publishes rec's factorial.computed; if JetStream does not take it, the reconciler
// announces it later.
func (w *worker) announce(ctx context.Context, rec database.Record, log *slog.Logger) {
	msg, err := computedMsg(rec)
	if err == nil {
		pctx, span := w.tracer.Start(context.WithoutCancel(ctx), msg.Subject+" publish", trace.WithSpanKind(trace.SpanKindProducer))
		msg.Header = telemetry.Headers(pctx)
		pctx, cancel := context.WithTimeout(pctx, publishTimeout)
		defer cancel()
		err = w.pub.Publish(pctx, msg)
		endSpan(span, err)
	}
	if err != nil {
		w.metrics.publishFailures.WithLabelValues("computed").Inc()
		log.Warn("publish factorial.computed; the reconciler will announce it", "err", err)
		return
	}
	w.announced.done(rec.Number)
}

var errLostClaim = errors.New("claim lost to another calculator")

// compute streams n! from the engine into the store, hashing and checking it on the way,
// while a ticker records progress; then reads the stored object back to verify its checksum.
func (w *worker) compute(ctx context.Context, req request, log *slog.Logger) (database.Result, error) {
	n := req.n
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer w.running.add(n, cancel)()

	var progress atomic.Uint64 // float64 bits
	stopBeat := w.heartbeat(ctx, req, &progress, func(err error) { cancel(err) }, log)
	defer stopBeat()

	start := time.Now()
	key := ResultKey(n)
	pr, pw := io.Pipe()
	check := newTextCheck()
	type engineResult struct {
		digits int64
		err    error
	}
	done := make(chan engineResult, 1)
	// The engine and the store run at once (the digits stream from one to the other): two
	// spans side by side.
	ectx, computeSpan := w.tracer.Start(ctx, "compute", trace.WithAttributes(attribute.Int64("factorial.number", n)))
	go func() {
		// On a thread of its own with a lower priority (Config.LargeNice), kept until this
		// goroutine ends, which ends the thread: see lowerThreadPriority.
		if lowerThreadPriority(w.largeNice) {
			defer largeProcs.hold()()
		}
		out, report := io.MultiWriter(pw, check), func(p float64) { progress.Store(math.Float64bits(p)) }
		var (
			digits int64
			err    error
		)
		if e, ok := w.engine.(CoresEngine); ok && w.largeCores > 0 {
			digits, err = e.WriteCores(ectx, uint64(n), out, report, w.largeCores)
		} else {
			digits, err = w.engine.Write(ectx, uint64(n), out, report)
		}
		pw.CloseWithError(err) // nil closes with EOF
		endSpan(computeSpan, err)
		done <- engineResult{digits, err}
	}()
	sctx, storeSpan := w.tracer.Start(ctx, "store", trace.WithAttributes(attribute.String("factorial.key", key)))
	obj, putErr := w.store.Put(sctx, key, pr)
	endSpan(storeSpan, putErr)
	pr.CloseWithError(errors.New("store stopped reading")) // unblocks the engine if Put failed early
	er := <-done
	if cause := context.Cause(ctx); errors.Is(cause, errLostClaim) || errors.Is(cause, errCancelled) {
		return database.Result{}, cause
	}
	// Either failure causes the other (the pipe carries it across): report the first.
	if er.err != nil && (putErr == nil || errors.Is(putErr, er.err)) {
		return database.Result{}, failedAt(stepCompute, fmt.Errorf("engine: %w", er.err))
	}
	if putErr != nil {
		return database.Result{}, storeFailed(stepStore, fmt.Errorf("store %s: %w", key, putErr))
	}
	elapsed := time.Since(start)

	vctx, verifySpan := w.tracer.Start(ctx, "verify")
	checksum, err := check.verify(n, er.digits, obj.Size)
	if err != nil {
		err = badDigits(err)
	} else {
		err = w.verifyStored(vctx, key, checksum)
	}
	endSpan(verifySpan, err)
	if err != nil {
		return database.Result{}, err
	}
	return database.Result{
		Key: key, Bucket: w.store.Bucket(), Checksum: checksum,
		Size: obj.Size, Digits: er.digits, ComputeMS: elapsed.Milliseconds(),
	}, nil
}

// heartbeat records progress (and so keeps the claim alive) and tells JetStream the delivery
// is in progress every w.beat until stopped. If the claim was taken over, it calls lost,
// which cancels the computation.
func (w *worker) heartbeat(ctx context.Context, req request, progress *atomic.Uint64, lost func(error), log *slog.Logger) (stop func()) {
	return every(ctx, w.beat, func(ctx context.Context) bool {
		_ = req.msg.InProgress()
		p := min(math.Float64frombits(progress.Load()), 0.999) // 1 is for done
		at := w.now()
		err := w.records.Heartbeat(ctx, req.n, req.claim, p, at)
		if err == nil {
			w.publishProgress(ctx, req.n, p, at, log)
		}
		switch {
		case errors.Is(err, database.ErrNotClaimed):
			lost(errLostClaim)
			return false
		case err != nil && ctx.Err() == nil:
			log.Warn("record progress", "err", err)
		}
		return true
	})
}

// every calls f every d, in a goroutine of its own, until f returns false or stop is called;
// stop ends the context f is given and waits for the goroutine to end.
func every(ctx context.Context, d time.Duration, f func(ctx context.Context) bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !f(ctx) {
				return
			}
		}
	}()
	return func() { cancel(); <-finished }
}

// publishProgress tells watchers (the API's SSE streams, outside subscribers) how far n is.
// It is best effort: progress is also in the record, which is what GET reads.
func (w *worker) publishProgress(ctx context.Context, n int64, p float64, at time.Time, log *slog.Logger) {
	payload, err := events.Encode(events.Progress{Number: n, Progress: p, At: at})
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, w.beat)
		defer cancel()
		err = w.pub.Publish(pctx, natsbus.Msg{Subject: events.SubjectProgress, Data: payload, Header: telemetry.Headers(ctx)})
	}
	if err != nil {
		w.metrics.publishFailures.WithLabelValues("progress").Inc()
		log.Debug("publish progress", "err", err)
	}
}

// verifyStored reads the stored object back and compares its SHA-256 with what was written,
// so a result is reported done only once the store holds exactly those bytes.
func (w *worker) verifyStored(ctx context.Context, key, checksum string) error {
	r, err := w.store.Open(ctx, key)
	if err != nil {
		return storeFailed(stepVerify, fmt.Errorf("verify %s: %w", key, err))
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return storeFailed(stepVerify, fmt.Errorf("verify %s: %w", key, err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != checksum {
		return failedAt("the stored digits differ from those written", fmt.Errorf("verify %s: stored checksum %s, wrote %s", key, got, checksum))
	}
	return nil
}
