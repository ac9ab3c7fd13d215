package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// Pull requests are short-lived and carry an idle heartbeat. A pull request lives on the
// server that holds the consumer's leader; when that node restarts or leadership moves, the
// request is forgotten without a word to the client, which would wait out the expiry for
// messages that never come. The heartbeat tells it within 2×pullHeartbeat, and the short
// expiry bounds the wait even where heartbeats are not sent.
const (
	pullExpiry    = 5 * time.Second
	pullHeartbeat = time.Second
)

// Worker fetches a lane's requests from its durable consumer. Several goroutines may share
// one (each fetch is its own pull request).
type Worker struct {
	js      jetstream.JetStream
	stream  string
	durable string

	mu     sync.Mutex
	cons   jetstream.Consumer // nil until looked up, and after it vanished
	err    error              // of the last fetch; nil once one succeeds
	errAt  time.Time
	okOnce bool
}

// NewWorker fetches the requests of lane over nc.
func NewWorker(nc *nats.Conn, lane events.Lane) (*Worker, error) {
	return newWorker(nc, defaultTopology, lane)
}

func newWorker(nc *nats.Conn, topo topology, lane events.Lane) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Worker{js: js, stream: topo.stream, durable: lane.Durable()}, nil
}

// Fetch returns up to max messages: at once what is waiting, or else the first to arrive
// within the pull expiry together with whatever arrived with it. An empty batch and no
// error means nothing came. Errors are transient (the consumer is missing until the
// supervisor recreates it, NATS is reconnecting): callers wait a little and fetch again.
func (w *Worker) Fetch(ctx context.Context, max int) ([]jetstream.Msg, error) {
	msgs, err := w.fetch(ctx, max)
	if ctx.Err() != nil {
		return msgs, ctx.Err()
	}
	if errors.Is(err, jetstream.ErrNoHeartbeat) {
		// A lost pull request, not a broken consumer: the next fetch makes a new one.
		return msgs, nil
	}
	if err != nil {
		w.failed(err)
	}
	return msgs, err
}

func (w *Worker) ok() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err, w.okOnce = nil, true
}

func (w *Worker) failed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.errAt = time.Now()
	}
	w.err = err
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrStreamNotFound) {
		w.cons = nil // look it up again: it may have been recreated
	}
}

func (w *Worker) fetch(ctx context.Context, max int) ([]jetstream.Msg, error) {
	cons, err := w.consumer(ctx)
	if err != nil {
		return nil, err
	}
	msgs, err := collect(cons.FetchNoWait(max))
	if err != nil {
		return msgs, err
	}
	w.ok()
	if len(msgs) > 0 {
		return msgs, nil
	}
	pctx, cancel := context.WithTimeout(ctx, pullExpiry)
	defer cancel()
	msgs, err = collect(cons.Fetch(1, jetstream.FetchContext(pctx), jetstream.FetchHeartbeat(pullHeartbeat)))
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = nil // the pull expired with nothing to fetch
	}
	if len(msgs) == 0 || err != nil || max == 1 {
		return msgs, err
	}
	more, _ := collect(cons.FetchNoWait(max - 1))
	return append(msgs, more...), nil
}

// collect reads a whole batch.
func collect(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, batch.Error()
}

func (w *Worker) consumer(ctx context.Context) (jetstream.Consumer, error) {
	w.mu.Lock()
	cons := w.cons
	w.mu.Unlock()
	if cons != nil {
		return cons, nil
	}
	lctx, cancel := context.WithTimeout(ctx, pullExpiry)
	defer cancel()
	cons, err := w.js.Consumer(lctx, w.stream, w.durable)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.cons = cons
	w.mu.Unlock()
	return cons, nil
}

// fetchGrace is how long fetching may fail before /readyz says so: long enough to ride out a
// consumer being recreated or a reconnect, short enough to be told within seconds.
const fetchGrace = 3 * time.Second

// Ready reports an error naming the consumer when fetching has failed for a while, or has
// never worked: for the calculator's /readyz.
func (w *Worker) Ready(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.err != nil && time.Since(w.errAt) > fetchGrace:
		return reason("consumer %s: cannot fetch: %s", w.durable, describe(w.err))
	case !w.okOnce:
		return reason("consumer %s: not fetched from yet", w.durable)
	}
	return nil
}
