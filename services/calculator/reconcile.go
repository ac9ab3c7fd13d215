package calculator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// StuckRecords lists and touches the records the reconciler republishes.
type StuckRecords interface {
	Stuck(ctx context.Context, pendingBefore, staleBefore time.Time, limit int) ([]database.Record, error)
	Touch(ctx context.Context, n int64, now time.Time) error
}

// reconciler republishes factorial.requested for records that waited too long: pending with
// no calculator on them (the message was lost: a wiped stream, a publish that failed after
// the record was written), or computing with a heartbeat gone stale (the calculator died).
// The database is the record of every accepted request; this loop is what makes JetStream's
// copy of it expendable.
type reconciler struct {
	records      StuckRecords
	pub          Publisher
	log          *slog.Logger
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
		if n, err := r.once(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile", "err", err)
		} else if n > 0 {
			r.log.Info("republished stuck requests", "count", n)
		}
	}
}

// once republishes one batch and returns how many it republished.
func (r *reconciler) once(ctx context.Context) (int, error) {
	now := r.now()
	stuck, err := r.records.Stuck(ctx, now.Add(-r.pendingAfter), now.Add(-r.lease), 100)
	if err != nil {
		return 0, fmt.Errorf("list stuck records: %w", err)
	}
	for i, rec := range stuck {
		payload, err := events.Encode(events.Requested{Number: rec.Number, RequestedAt: rec.RequestedAt.UTC()})
		if err != nil {
			return i, err
		}
		// One id per record and minute: replicas reconciling at once publish one message.
		msgID := fmt.Sprintf("requested/%d/reconcile/%d", rec.Number, now.Unix()/60)
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err = r.pub.Publish(pctx, natsbus.Msg{Subject: events.RequestedSubject(rec.Number), Data: payload, ID: msgID})
		cancel()
		if err != nil {
			return i, fmt.Errorf("republish %d: %w", rec.Number, err)
		}
		if err := r.records.Touch(ctx, rec.Number, now); err != nil {
			return i, fmt.Errorf("touch %d: %w", rec.Number, err)
		}
	}
	return len(stuck), nil
}
