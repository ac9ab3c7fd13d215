package calculator

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// deadLetter sets aside a delivery that can never be computed (a subject or payload that
// does not read as a request, a number the calculator does not compute): it is published
// unchanged on factorial.deadletter with the reason in a header, counted, and terminated,
// so JetStream never delivers it again. Nothing is computed or recorded for it. If the dead
// letter cannot be published, the delivery comes back later instead of vanishing.
func (w *worker) deadLetter(ctx context.Context, m jetstream.Msg, kind, reason string, log *slog.Logger) {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	err := w.pub.Publish(pctx, natsbus.Msg{
		Subject: events.SubjectDeadLetter, Data: m.Data(),
		Header: nats.Header{events.HeaderReason: {reason}, events.HeaderSubject: {m.Subject()}},
	})
	if err != nil {
		w.metrics.publishFailures.WithLabelValues("deadletter").Inc()
		log.Warn("publish a dead letter", "subject", m.Subject(), "err", err)
		_ = m.NakWithDelay(w.retryDelay)
		return
	}
	w.metrics.deadLetters.WithLabelValues(kind).Inc()
	log.Warn("set a request aside as a dead letter", "subject", m.Subject(), "kind", kind, "reason", reason)
	_ = m.Term()
}

// outOfRange dead-letters a request above this calculator's MAX_NUMBER. If the API recorded
// it (its MAX_NUMBER is larger), the record is failed with the reason, so the client is told
// instead of waiting for good.
func (w *worker) outOfRange(ctx context.Context, req request, log *slog.Logger) {
	reason := fmt.Sprintf("number %d is above this calculator's MAX_NUMBER %d", req.n, w.maxNumber)
	rec, failed, err := w.records.FailPending(ctx, req.n, reason, w.now())
	if err != nil {
		log.Warn("fail an out-of-range request", "err", err)
		_ = req.msg.NakWithDelay(w.retryDelay)
		return
	}
	if failed {
		w.metrics.outcome(req.lane, "failed")
		w.announceFailed(ctx, req.n, max(rec.Attempts, 1), reason, rec.UpdatedAt, log)
	}
	w.deadLetter(ctx, req.msg, "out_of_range", reason, log)
}
