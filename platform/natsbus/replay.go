package natsbus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrReplayGap is Replay's answer when the events after the sequence asked for cannot all be
// replayed: more than the bound, some already gone from the stream (older than its 7 days),
// or a sequence the stream never reached (it was recreated).
var ErrReplayGap = errors.New("the events missed cannot all be replayed")

// replayInactive is how long the ephemeral consumer of a replay outlives its last fetch
// before the server removes it.
const replayInactive = 10 * time.Second

// Replay hands handle, in order, the events of the stream stored after sequence after and up
// to the last one stored when Replay was called: what a client that saw the event of
// sequence after has missed. It returns ErrReplayGap, and replays nothing, when that is more
// than max events or cannot all be had. It reads through an ephemeral ordered consumer of
// its own, which the server removes shortly after.
func (f *Follower) Replay(ctx context.Context, after uint64, max int, handle func(jetstream.Msg)) error {
	st, err := f.js.Stream(ctx, f.topo.stream)
	if err != nil {
		return err
	}
	state := st.CachedInfo().State
	last := state.LastSeq
	switch {
	case after == last:
		return nil
	case after > last, after+1 < state.FirstSeq, last-after > uint64(max):
		return ErrReplayGap
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{f.topo.subjects},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: replayInactive,
	})
	if err != nil {
		return err
	}
	for {
		batch, err := cons.Fetch(min(256, int(last-after)), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			after = md.Sequence.Stream
			handle(m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if after >= last || got == 0 || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
