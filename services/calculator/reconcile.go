package calculator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// StuckRecords lists and marks the records the reconciler looks at.
type StuckRecords interface {
	Stuck(ctx context.Context, pendingBefore, staleBefore time.Time, limit int) ([]database.Record, error)
	Checked(ctx context.Context, ns []int64, now time.Time) error
	Unannounced(ctx context.Context, before time.Time, limit int) ([]database.Record, error)
	MarkAnnounced(ctx context.Context, ns []int64, now time.Time) error
	Recompute(ctx context.Context, n int64, checksum, reason string, now time.Time) (database.Record, bool, error)
}

// RequestLookup tells a request JetStream still holds from one it has lost
// (natsbus.Lookup).
type RequestLookup interface {
	Floors(ctx context.Context) (map[events.Lane]uint64, error)
	Held(ctx context.Context, n int64, floors map[events.Lane]uint64) (bool, error)
}

// Bounds of one pass of the reconciler.
const (
	reconcileBatch   = 1000 // records looked at per pass; the next pass takes the next ones
	reconcileLookups = 16   // stream lookups in flight
)

// reconciler makes JetStream's copy of the requests expendable: the database is the record
// of every accepted request and every result, and the reconciler repairs what the stream
// lost, and only that.
//
//   - Requests: a record pending for longer than pendingAfter, or computing with a heartbeat
//     older than the lease, is looked up in the stream (natsbus.Lookup). If JetStream still
//     holds its request (waiting in a backlog, held by a live calculator, or to be delivered
//     again after a calculator died) nothing is published: a backlog of any size costs no
//     publish. If JetStream has lost it (a wiped stream, a failed publish, a consumer
//     recreated after it), it is published again. Either way the record is marked checked and
//     not looked at again until it has waited pendingAfter once more.
//   - Results (the outbox): a done record whose factorial.computed JetStream has not taken
//     (it failed, or the stream was gone) is announced again once it is pendingAfter old, so
//     results finished while the stream was gone are announced once it is back.
type reconciler struct {
	records      StuckRecords
	lookup       RequestLookup
	pub          Publisher
	log          *slog.Logger
	metrics      *metrics
	every        time.Duration
	pendingAfter time.Duration
	lease        time.Duration
	now          func() time.Time
}

func (r *reconciler) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := r.once(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile", "err", err)
		}
		if res.republished > 0 || res.announced > 0 {
			r.log.Info("reconciled", "republished", res.republished, "held", res.held, "announced", res.announced)
		}
	}
}

// passResult counts what one pass did.
type passResult struct {
	republished, held, announced int
}

// once runs one pass: results owed an announcement, then stuck requests.
func (r *reconciler) once(ctx context.Context) (passResult, error) {
	var res passResult
	var err error
	if res.announced, err = r.announce(ctx); err != nil {
		return res, err
	}
	res.republished, res.held, err = r.republish(ctx)
	return res, err
}

// announce publishes factorial.computed again for done records JetStream has not taken one of.
func (r *reconciler) announce(ctx context.Context) (int, error) {
	now := r.now()
	owed, err := r.records.Unannounced(ctx, now.Add(-r.pendingAfter), reconcileBatch)
	if err != nil || len(owed) == 0 {
		return 0, err
	}
	// sent[i] is the number msgs[i] announces: the rows computed again are not published, so
	// the publish errors, one per message, are matched to sent, not to owed.
	msgs := make([]natsbus.Msg, 0, len(owed))
	sent := make([]int64, 0, len(owed))
	for _, rec := range owed {
		if rec.Text != "" && !textMatches(rec) {
			// The digits in the row no longer match it (a bad disk, a stray UPDATE). The API
			// caches an event's digits as they come: they are not announced, they are
			// computed again.
			r.recompute(ctx, rec)
			continue
		}
		if m, err := computedMsg(rec); err == nil {
			msgs = append(msgs, m)
			sent = append(sent, rec.Number)
		}
	}
	if len(msgs) == 0 {
		return 0, nil // nothing to publish is no failure: the pass goes on
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	errs, _ := r.pub.PublishAll(pctx, msgs)
	cancel()
	var ns []int64
	for i, err := range errs {
		if err == nil {
			ns = append(ns, sent[i])
		}
	}
	if len(ns) == 0 {
		return 0, fmt.Errorf("announce %d results: %w", len(msgs), natsbus.FirstError(errs))
	}
	r.metrics.reconciled.WithLabelValues("announced").Add(float64(len(ns)))
	return len(ns), r.records.MarkAnnounced(ctx, ns, r.now())
}

// republish publishes again the stuck requests JetStream no longer holds.
func (r *reconciler) republish(ctx context.Context) (republished, held int, err error) {
	now := r.now()
	stuck, err := r.records.Stuck(ctx, now.Add(-r.pendingAfter), now.Add(-r.lease), reconcileBatch)
	if err != nil || len(stuck) == 0 {
		return 0, 0, err
	}
	floors, err := r.lookup.Floors(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("ack floors of the lane consumers: %w", err)
	}

	// Look each one up, a few at a time; one that cannot be looked up waits for the next pass.
	const (
		unknown = iota
		isHeld
		isLost
	)
	verdict := make([]int, len(stuck))
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, reconcileLookups)
	var wg sync.WaitGroup
	for i, rec := range stuck {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h, err := r.lookup.Held(ctx, rec.Number, floors)
			switch {
			case err != nil:
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			case h:
				verdict[i] = isHeld
			default:
				verdict[i] = isLost
			}
		})
	}
	wg.Wait()

	var checked []int64
	var lost []database.Record
	for i, rec := range stuck {
		switch verdict[i] {
		case isHeld:
			checked = append(checked, rec.Number)
			held++
		case isLost:
			lost = append(lost, rec)
		}
	}
	msgs := make([]natsbus.Msg, 0, len(lost))
	for _, rec := range lost {
		payload, err := events.Encode(events.Requested{Number: rec.Number, RequestedAt: rec.RequestedAt.UTC()})
		if err != nil {
			return 0, held, err
		}
		// One id per record and minute: replicas reconciling at once publish one message.
		msgs = append(msgs, natsbus.Msg{Subject: events.RequestedSubject(rec.Number), Data: payload,
			ID: fmt.Sprintf("requested/%d/reconcile/%d", rec.Number, now.Unix()/60)})
	}
	if len(msgs) > 0 {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		errs, _ := r.pub.PublishAll(pctx, msgs)
		cancel()
		for i, err := range errs {
			if err == nil {
				checked = append(checked, lost[i].Number)
				republished++
			} else if firstErr == nil {
				firstErr = err
			}
		}
	}
	r.metrics.reconciled.WithLabelValues("held").Add(float64(held))
	r.metrics.reconciled.WithLabelValues("republished").Add(float64(republished))
	if err := r.records.Checked(ctx, checked, r.now()); err != nil {
		return republished, held, err
	}
	return republished, held, firstErr
}

// announcer records, in batches, which results JetStream has taken the announcement of
// (database.Factorials.MarkAnnounced): one statement for many, a little later, instead of
// one per result on the way of the work. What it has not recorded when the process dies is
// announced again by the reconciler, which JetStream's duplicate window mostly absorbs.
type announcer struct {
	records interface {
		MarkAnnounced(ctx context.Context, ns []int64, now time.Time) error
	}
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	pending []int64
	kick    chan struct{}
}

// announcerEvery and announcerBatch bound how long and how many marks wait.
const (
	announcerEvery = 100 * time.Millisecond
	announcerBatch = 1000
)

func newAnnouncer(records interface {
	MarkAnnounced(ctx context.Context, ns []int64, now time.Time) error
}, log *slog.Logger, now func() time.Time) *announcer {
	return &announcer{records: records, log: log, now: now, kick: make(chan struct{}, 1)}
}

// done notes that the announcements of ns were taken.
func (a *announcer) done(ns ...int64) {
	a.mu.Lock()
	a.pending = append(a.pending, ns...)
	full := len(a.pending) >= announcerBatch
	a.mu.Unlock()
	if full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// run records the marks until ctx ends, then what is left.
func (a *announcer) run(ctx context.Context) {
	t := time.NewTicker(announcerEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
			a.flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-a.kick:
		}
		a.flush(ctx)
	}
}

func (a *announcer) flush(ctx context.Context) {
	a.mu.Lock()
	ns := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(ns) == 0 {
		return
	}
	if err := a.records.MarkAnnounced(ctx, ns, a.now()); err != nil && ctx.Err() == nil {
		a.log.Warn("record announcements; the reconciler will announce them again", "count", len(ns), "err", err)
	}
}

// recompute sends a done record whose digits in the row do not match it back to be computed,
// and publishes its request (if that fails, a later pass republishes it as lost).
func (r *reconciler) recompute(ctx context.Context, rec database.Record) {
	fresh, reset, err := r.records.Recompute(ctx, rec.Number, rec.Checksum,
		"the stored result did not match its checksum; computing it again", r.now())
	if err != nil {
		r.log.Warn("send back a result whose digits do not match it", "number", rec.Number, "err", err)
		return
	}
	if !reset {
		return
	}
	r.metrics.reconciled.WithLabelValues("recomputed").Inc()
	r.log.Error("the digits in the row do not match their checksum: not announced, computing them again", "number", rec.Number)
	payload, err := events.Encode(events.Requested{Number: fresh.Number, RequestedAt: fresh.RequestedAt.UTC()})
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, _ = r.pub.PublishAll(pctx, []natsbus.Msg{{Subject: events.RequestedSubject(fresh.Number), Data: payload,
		ID: fmt.Sprintf("requested/%d/recompute/%s", fresh.Number, rec.Checksum[:min(16, len(rec.Checksum))])}})
}

// textMatches reports whether the digits in rec's row match its size and checksum.
func textMatches(rec database.Record) bool {
	sum := sha256.Sum256([]byte(rec.Text))
	return int64(len(rec.Text)) == rec.Size && hex.EncodeToString(sum[:]) == rec.Checksum
}
