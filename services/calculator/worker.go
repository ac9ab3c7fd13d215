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
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// Engine computes n! and writes its decimal text to w, reporting progress from 0 to 1.
type Engine interface {
	Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (digits int64, err error)
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
	Complete(ctx context.Context, n int64, worker string, r database.Result, now time.Time) (database.Record, error)
	Release(ctx context.Context, n int64, worker, reason string, now time.Time) error
	Fail(ctx context.Context, n int64, worker, reason string, now time.Time) (database.Record, error)
	Get(ctx context.Context, n int64) (database.Record, error)
}

// ResultStore is where the decimal text goes.
type ResultStore interface {
	Put(ctx context.Context, key string, r io.Reader) (objectstore.Object, error)
	Open(ctx context.Context, key string) (objectstore.Reader, error)
	Bucket() string
}

// Publisher publishes events (watermill's message.Publisher).
type Publisher interface {
	Publish(topic string, messages ...*message.Message) error
}

// worker handles factorial.requested: claim the record, compute, store, verify, record, announce.
type worker struct {
	id          string
	engine      Engine
	records     Records
	store       ResultStore
	pub         Publisher
	metrics     *metrics
	log         *slog.Logger
	maxNumber   int64
	maxAttempts int
	lease       time.Duration // a claim whose heartbeat is older than this is taken over
	beat        time.Duration // how often progress and the claim's heartbeat are recorded
	now         func() time.Time
}

// ResultKey is the object key of n!'s decimal text.
func ResultKey(n int64) string { return fmt.Sprintf("factorials/%d.txt", n) }

// Handle is the router handler. A nil error acks the delivery; an error naks it, and it is
// delivered again after the retry delay.
func (w *worker) Handle(m *message.Message) error {
	var req events.Requested
	if err := events.Decode(m.Payload, &req); err != nil || req.Number < 0 {
		// It can never succeed: dropping it loses nothing, since the API validates every
		// request it records and the reconciler republishes records, not messages.
		w.log.Error("dropping malformed factorial.requested", "payload", string(m.Payload), "err", err)
		w.metrics.outcomes.WithLabelValues("malformed").Inc()
		return nil
	}
	n := req.Number
	ctx := m.Context()
	log := w.log.With("number", n, "delivery", natsbus.Delivered(m))

	now := w.now()
	rec, ok, err := w.records.Claim(ctx, n, w.id, now, now.Add(-w.lease))
	if err != nil {
		return fmt.Errorf("claim %d: %w", n, err)
	}
	if !ok {
		return w.skip(ctx, n, log)
	}
	switch {
	case n > w.maxNumber:
		return w.fail(ctx, n, rec.Attempts, fmt.Sprintf("number %d is above this calculator's MAX_NUMBER %d", n, w.maxNumber), log)
	case rec.Attempts > w.maxAttempts:
		reason := fmt.Sprintf("gave up after %d attempts: the calculator stopped each time before finishing (out of memory?)", w.maxAttempts)
		if rec.Error != "" {
			reason = fmt.Sprintf("gave up after %d attempts; the last one failed: %s", w.maxAttempts, rec.Error)
		}
		return w.fail(ctx, n, rec.Attempts-1, reason, log)
	}

	log.Info("computing", "attempt", rec.Attempts)
	w.metrics.inFlight.Inc()
	start := time.Now()
	res, err := w.compute(ctx, n, log)
	w.metrics.inFlight.Dec()
	if err != nil {
		// Give the record back so another replica can take it at once, even when our own
		// context is gone (shutdown).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		reason := err.Error()
		if ctx.Err() != nil {
			reason = "" // shut down, not failed
		}
		if rerr := w.records.Release(rctx, n, w.id, reason, w.now()); rerr != nil && !errors.Is(rerr, database.ErrNotClaimed) {
			log.Warn("release claim", "err", rerr)
		}
		if errors.Is(err, errLostClaim) {
			log.Warn("another calculator took this number over; stopping")
			return nil
		}
		w.metrics.outcomes.WithLabelValues("retry").Inc()
		return fmt.Errorf("compute %d: %w", n, err)
	}
	w.metrics.seconds.Observe(time.Since(start).Seconds())

	rec, err = w.records.Complete(ctx, n, w.id, res, w.now())
	if errors.Is(err, database.ErrNotClaimed) {
		log.Warn("another calculator took this number over while it was stored; its result stands")
		return nil
	}
	if err != nil {
		return fmt.Errorf("record result of %d: %w", n, err)
	}
	w.metrics.outcomes.WithLabelValues("done").Inc()
	log.Info("computed", "digits", res.Digits, "compute_ms", res.ComputeMS)
	return w.announce(rec)
}

// reannounceWithin is how recent a result must be to be announced again on a duplicate
// delivery: long enough to cover a crash between recording and publishing, short enough that
// replaying an old stream does not announce every result ever computed.
const reannounceWithin = time.Hour

// skip handles a delivery for a number this worker could not claim. A recently done record
// is announced again: the first announcement may have been lost between recording and
// publishing, and JetStream drops the copy if it was not.
func (w *worker) skip(ctx context.Context, n int64, log *slog.Logger) error {
	rec, err := w.records.Get(ctx, n)
	if err != nil {
		return fmt.Errorf("read record %d: %w", n, err)
	}
	log.Debug("not claimed", "status", rec.Status)
	w.metrics.outcomes.WithLabelValues("duplicate").Inc()
	if rec.Status == database.StatusDone && rec.ComputedAt != nil && w.now().Sub(*rec.ComputedAt) < reannounceWithin {
		return w.announce(rec)
	}
	return nil
}

func (w *worker) fail(ctx context.Context, n int64, attempts int, reason string, log *slog.Logger) error {
	log.Error("failed", "reason", reason)
	rec, err := w.records.Fail(ctx, n, w.id, reason, w.now())
	if err != nil {
		return fmt.Errorf("record failure of %d: %w", n, err)
	}
	w.metrics.outcomes.WithLabelValues("failed").Inc()
	payload, err := events.Encode(events.Failed{Number: n, Error: reason, Attempts: max(attempts, 1), FailedAt: rec.UpdatedAt})
	if err != nil {
		return err
	}
	if err := w.pub.Publish(events.SubjectFailed, natsbus.NewMessage(payload, "")); err != nil {
		return fmt.Errorf("publish failed %d: %w", n, err)
	}
	return nil
}

func (w *worker) announce(rec database.Record) error {
	computedAt := rec.UpdatedAt
	if rec.ComputedAt != nil {
		computedAt = *rec.ComputedAt
	}
	payload, err := events.Encode(events.Computed{
		Number: rec.Number, Status: events.StatusDone, Key: rec.Key, Bucket: rec.Bucket,
		Checksum: rec.Checksum, Size: rec.Size, Digits: rec.Digits, ComputeMS: rec.ComputeMS,
		ComputedAt: computedAt.UTC(),
	})
	if err != nil {
		return err
	}
	msgID := fmt.Sprintf("computed/%d/%s", rec.Number, rec.Checksum[:16])
	if err := w.pub.Publish(events.SubjectComputed, natsbus.NewMessage(payload, msgID)); err != nil {
		return fmt.Errorf("publish computed %d: %w", rec.Number, err)
	}
	return nil
}

var errLostClaim = errors.New("claim lost to another calculator")

// compute streams n! from the engine into the store, hashing and checking it on the way,
// while a ticker records progress; then reads the stored object back to verify its checksum.
func (w *worker) compute(ctx context.Context, n int64, log *slog.Logger) (database.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var progress atomic.Uint64 // float64 bits
	stopBeat := w.heartbeat(ctx, n, &progress, func(err error) { cancel(err) }, log)
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
	go func() {
		digits, err := w.engine.Write(ctx, uint64(n), io.MultiWriter(pw, check), func(p float64) {
			progress.Store(math.Float64bits(p))
		})
		pw.CloseWithError(err) // nil closes with EOF
		done <- engineResult{digits, err}
	}()
	obj, putErr := w.store.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("store stopped reading")) // unblocks the engine if Put failed early
	er := <-done
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errLostClaim) {
		return database.Result{}, errLostClaim
	}
	// Either failure causes the other (the pipe carries it across): report the first.
	if er.err != nil && (putErr == nil || errors.Is(putErr, er.err)) {
		return database.Result{}, fmt.Errorf("engine: %w", er.err)
	}
	if putErr != nil {
		return database.Result{}, fmt.Errorf("store %s: %w", key, putErr)
	}
	elapsed := time.Since(start)

	checksum, err := check.verify(n, er.digits, obj.Size)
	if err != nil {
		return database.Result{}, err
	}
	if err := w.verifyStored(ctx, key, checksum); err != nil {
		return database.Result{}, err
	}
	return database.Result{
		Key: key, Bucket: w.store.Bucket(), Checksum: checksum,
		Size: obj.Size, Digits: er.digits, ComputeMS: elapsed.Milliseconds(),
	}, nil
}

// heartbeat records progress (and so keeps the claim alive) every w.beat until stopped.
// If the claim was taken over, it calls lost, which cancels the computation.
func (w *worker) heartbeat(ctx context.Context, n int64, progress *atomic.Uint64, lost func(error), log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.beat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p := min(math.Float64frombits(progress.Load()), 0.999) // 1 is for done
			w.metrics.progress.Set(p)
			at := w.now()
			err := w.records.Heartbeat(ctx, n, w.id, p, at)
			if err == nil {
				w.publishProgress(n, p, at, log)
			}
			switch {
			case errors.Is(err, database.ErrNotClaimed):
				lost(errLostClaim)
				return
			case err != nil && ctx.Err() == nil:
				log.Warn("record progress", "err", err)
			}
		}
	}()
	return func() { cancel(); <-finished }
}

// publishProgress tells watchers (the API's SSE streams, outside subscribers) how far n is.
// It is best effort: progress is also in the record, which is what GET reads.
func (w *worker) publishProgress(n int64, p float64, at time.Time, log *slog.Logger) {
	payload, err := events.Encode(events.Progress{Number: n, Progress: p, At: at})
	if err == nil {
		err = w.pub.Publish(events.SubjectProgress, natsbus.NewMessage(payload, ""))
	}
	if err != nil {
		log.Debug("publish progress", "err", err)
	}
}

// verifyStored reads the stored object back and compares its SHA-256 with what was written,
// so a result is reported done only once the store holds exactly those bytes.
func (w *worker) verifyStored(ctx context.Context, key, checksum string) error {
	r, err := w.store.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != checksum {
		return fmt.Errorf("verify %s: stored checksum %s, wrote %s", key, got, checksum)
	}
	return nil
}
