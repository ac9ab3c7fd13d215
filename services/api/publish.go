package api

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// Publisher publishes many messages at once, their acks awaited together.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []natsbus.Msg) (errs []error, failed int)
}

// Bounds of the background publication of requests.
const (
	publishQueue   = 10_000          // requests waiting to be published; beyond, the reconciler's
	publishBatch   = 512             // published together, acks awaited together
	publishTimeout = 5 * time.Second // for one batch's acks
	drainTimeout   = 2 * time.Second // at shutdown, for what is still queued
)

// requestPublisher publishes factorial.requested for the records the API has just made
// pending, in the background, so a POST answers as soon as its record is written (within
// milliseconds even while NATS is down). What cannot be published in time, or does not fit
// the queue, is left to the calculators' reconciler: the record is the promise.
type requestPublisher struct {
	pub    Publisher
	log    *slog.Logger
	queue  chan natsbus.Msg
	failed prometheus.Counter
}

func newRequestPublisher(pub Publisher, log *slog.Logger, reg prometheus.Registerer) *requestPublisher {
	p := &requestPublisher{
		pub: pub, log: log, queue: make(chan natsbus.Msg, publishQueue),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "factorial_api_requests_unpublished_total",
			Help: "Accepted requests whose factorial.requested was not published in time (the reconciler publishes them).",
		}),
	}
	reg.MustRegister(p.failed)
	return p
}

// requestedMsg is the factorial.requested event of a pending record, with an id that makes
// JetStream keep one copy per time it became pending.
func requestedMsg(rec database.Record) (natsbus.Msg, error) {
	payload, err := events.Encode(events.Requested{Number: rec.Number, RequestedAt: rec.RequestedAt.UTC()})
	if err != nil {
		return natsbus.Msg{}, err
	}
	return natsbus.Msg{
		Subject: events.RequestedSubject(rec.Number), Data: payload,
		ID: fmt.Sprintf("requested/%d/%d", rec.Number, rec.RequestedAt.UnixMicro()),
	}, nil
}

// enqueue queues the publication of rec's request; it never blocks.
func (p *requestPublisher) enqueue(rec database.Record) {
	msg, err := requestedMsg(rec)
	if err == nil {
		select {
		case p.queue <- msg:
			return
		default:
			err = fmt.Errorf("%d requests already wait to be published", publishQueue)
		}
	}
	p.failed.Inc()
	p.log.Warn("factorial.requested not published; the reconciler will", "number", rec.Number, "err", err)
}

// run publishes queued requests until ctx ends, then what is still queued, within
// drainTimeout.
func (p *requestPublisher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			p.drain(dctx)
			cancel()
			return
		case m := <-p.queue:
			p.publish(ctx, p.take(m))
		}
	}
}

// take returns m and whatever else is queued, up to a batch.
func (p *requestPublisher) take(m natsbus.Msg) []natsbus.Msg {
	batch := []natsbus.Msg{m}
	for len(batch) < publishBatch {
		select {
		case m := <-p.queue:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// drain publishes what is queued, until ctx ends.
func (p *requestPublisher) drain(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case m := <-p.queue:
			p.publish(ctx, p.take(m))
		default:
			return
		}
	}
}

// publish publishes a batch within publishTimeout, or until ctx ends: what was taken from
// the queue is then published or counted as not published.
func (p *requestPublisher) publish(ctx context.Context, batch []natsbus.Msg) {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	errs, failed := p.pub.PublishAll(pctx, batch)
	if failed == 0 {
		return
	}
	p.failed.Add(float64(failed))
	p.log.Warn("factorial.requested not published; the reconciler will", "count", failed, "of", len(batch),
		"err", natsbus.FirstError(errs))
}
