package api

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// Publisher publishes many messages at once, their acks awaited together.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []natsbus.Msg) (errs []error, failed int)
}

// Bounds of the background publication of requests.
const (
	publishQueue   = 10_000           // requests waiting to be published; beyond, the reconciler's
	publishBatch   = 512              // published together, acks awaited together
	publishTimeout = 5 * time.Second  // for one batch's acks
	retryFor       = 30 * time.Second // a request that fails is tried again this long (a leader election)
	retryMax       = 4 * time.Second  // the longest pause between two tries
	drainTimeout   = 2 * time.Second  // at shutdown, for what is still queued
)

// requestPublisher publishes factorial.requested for the records the API has just made
// pending, in the background, so a POST answers as soon as its record is written (within
// milliseconds even while NATS is down). A publish that fails (the stream is electing a new
// leader, NATS is reconnecting) is tried again with a growing pause for retryFor, which
// JetStream's duplicate window makes safe; what still fails, or does not fit the queue, is
// left to the calculators' reconciler: the record is the promise.
type requestPublisher struct {
	pub    Publisher
	log    *slog.Logger
	queue  chan queued
	failed prometheus.Counter
	tracer trace.Tracer

	retryFor time.Duration // retryFor, shortened by tests
	retries  []retry       // owned by run
}

// queued is a request waiting to be published, with the span that covers its wait and its
// publication (a child of the POST's span, whose context its headers carry).
type queued struct {
	msg  natsbus.Msg
	span trace.Span
}

// retry is a request whose publication failed, to be tried again at next.
type retry struct {
	queued
	first time.Time
	pause time.Duration
	next  time.Time
}

func newRequestPublisher(pub Publisher, log *slog.Logger, reg prometheus.Registerer) *requestPublisher {
	p := &requestPublisher{
		pub: pub, log: log, queue: make(chan queued, publishQueue), retryFor: retryFor, tracer: otel.Tracer(tracerName),
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

// enqueue queues the publication of rec's request, with the trace context and request id of
// ctx in its headers (so the calculator's work joins the POST's trace); it never blocks.
func (p *requestPublisher) enqueue(ctx context.Context, rec database.Record) {
	msg, err := requestedMsg(rec)
	ctx, span := p.tracer.Start(ctx, msg.Subject+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject), attribute.Int64("factorial.number", rec.Number)))
	if err == nil {
		msg.Header = telemetry.Headers(ctx)
		select {
		case p.queue <- queued{msg, span}:
			return
		default:
			err = fmt.Errorf("%d requests already wait to be published", publishQueue)
		}
	}
	endSpan(span, err)
	p.failed.Inc()
	p.log.WarnContext(ctx, "factorial.requested not published; the reconciler will", "number", rec.Number, "err", err)
}

// endSpan ends span, marked failed with err when it is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// run publishes queued requests, and tries failed ones again, until ctx ends; then what is
// still queued, within drainTimeout.
func (p *requestPublisher) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(p.retries) > 0 {
			timer.Reset(time.Until(p.retries[0].next))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			p.drain(dctx)
			cancel()
			return
		case q := <-p.queue:
			p.publish(ctx, p.take([]retry{{queued: q, first: time.Now()}}))
		case <-due:
			p.publish(ctx, p.take(nil))
		}
	}
}

// take returns batch with the retries that are due and what is queued, up to a batch.
func (p *requestPublisher) take(batch []retry) []retry {
	now := time.Now()
	for len(batch) < publishBatch && len(p.retries) > 0 && !p.retries[0].next.After(now) {
		batch = append(batch, p.retries[0])
		p.retries = p.retries[1:]
	}
	for len(batch) < publishBatch {
		select {
		case q := <-p.queue:
			batch = append(batch, retry{queued: q, first: now})
		default:
			return batch
		}
	}
	return batch
}

// drain publishes what is queued or waits to be tried again, once, until ctx ends.
func (p *requestPublisher) drain(ctx context.Context) {
	for i := range p.retries {
		p.retries[i].first = time.Time{} // no more tries: this is the last
	}
	for ctx.Err() == nil {
		batch := p.take(nil)
		for len(p.retries) > 0 && len(batch) < publishBatch {
			batch = append(batch, p.retries[0])
			p.retries = p.retries[1:]
		}
		if len(batch) == 0 {
			return
		}
		p.publish(ctx, batch)
	}
	left := len(p.retries) + len(p.queue)
	for _, r := range p.retries {
		endSpan(r.span, ctx.Err())
	}
	for len(p.queue) > 0 {
		endSpan((<-p.queue).span, ctx.Err())
	}
	p.giveUp(left, ctx.Err())
}

// publish publishes a batch within publishTimeout, or until ctx ends. What fails is tried
// again later while it is younger than retryFor, and counted as not published otherwise.
func (p *requestPublisher) publish(ctx context.Context, batch []retry) {
	msgs := make([]natsbus.Msg, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	errs, failed := p.pub.PublishAll(pctx, msgs)
	if failed == 0 {
		for _, r := range batch {
			r.span.End()
		}
		return
	}
	now, gaveUp := time.Now(), 0
	for i, err := range errs {
		r := batch[i]
		switch {
		case err == nil:
			r.span.End()
		case ctx.Err() == nil && now.Sub(r.first) < p.retryFor && len(p.retries) < publishQueue:
			r.pause = min(max(2*r.pause, 250*time.Millisecond), retryMax)
			r.next = now.Add(r.pause)
			r.span.AddEvent("publish failed; trying again", trace.WithAttributes(attribute.String("error", err.Error())))
			p.retries = append(p.retries, r)
		default:
			endSpan(r.span, err)
			gaveUp++
		}
	}
	if gaveUp > 0 {
		p.giveUp(gaveUp, natsbus.FirstError(errs))
	}
}

func (p *requestPublisher) giveUp(count int, err error) {
	if count == 0 {
		return
	}
	p.failed.Add(float64(count))
	p.log.Warn("factorial.requested not published; the reconciler will", "count", count, "err", err)
}
