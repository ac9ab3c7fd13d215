package calculator

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// givenBackMsg is a delivery that counts how it was given back.
type givenBackMsg struct {
	jetstream.Msg // nil: any other method panics
	naks          *atomic.Int32
}

func (m givenBackMsg) Nak() error                       { m.naks.Add(1); return nil }
func (m givenBackMsg) NakWithDelay(time.Duration) error { m.naks.Add(1); return nil }

// shutdownFetch returns its messages together with the context's error, as natsbus.Worker
// does for a fetch that shutdown interrupted: it ends the context itself first.
type shutdownFetch struct {
	stop func()
	msgs []jetstream.Msg
}

func (f shutdownFetch) Fetch(ctx context.Context, _ int) ([]jetstream.Msg, error) {
	f.stop()
	return f.msgs, ctx.Err()
}

func (shutdownFetch) Ready(context.Context) error { return nil }

// Messages a fetch returns as shutdown begins are given back at once, not left to come back
// after the ack wait.
func TestConsumeGivesBackWhatAFetchCutShortReturned(t *testing.T) {
	var naks atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	msgs := []jetstream.Msg{givenBackMsg{naks: &naks}, givenBackMsg{naks: &naks}}
	s := &Service{cfg: Config{BatchSize: 16}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		fetch: map[events.Lane]fetcher{events.LaneSmall: shutdownFetch{stop: cancel, msgs: msgs}}}
	s.consume(ctx, events.LaneSmall)
	if got := naks.Load(); got != int32(len(msgs)) {
		t.Errorf("%d of the %d messages fetched as shutdown began given back", got, len(msgs))
	}
}
