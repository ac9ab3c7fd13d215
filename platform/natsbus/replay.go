package natsbus

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrReplayGap is Replay's answer when the events after the sequence asked for cannot all be
// replayed: more than the bound, some already gone from the stream (older than its 7 days),
// or a sequence the stream never reached (it was recreated).
var ErrReplayGap = errors.New("the events missed cannot all be replayed")

// Replay hands handle, in order, the events of the stream stored after sequence after and up
// to the last one stored when Replay was called: what a client that saw the event of
// sequence after has missed. It returns ErrReplayGap, and replays nothing, when that is more
// than max events or cannot all be had.
//
// It reads them one at a time, each a request to the stream that ctx bounds (the next
// message at or after a sequence): a replay holds one event in flight, however many run
// at once (a result's event may carry 64 KiB of digits), and it ends with ctx whatever NATS
// does. An ordered consumer did neither: many replays of 256-event batches over the
// follower's connection made the server cut it as a slow consumer, and its Fetch recreated
// its consumer without end, ignoring ctx, while NATS was away.
func (f *Follower) Replay(ctx context.Context, after uint64, max int, handle func(subject string, seq uint64, data []byte)) error {
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
	for seq := after + 1; seq <= last; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(f.topo.subjects))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// None from seq to last, which the stream said it held: gone since (its age
			// limit), or a replica not caught up answered (the stream allows direct gets,
			// which any replica serves). The client is told to reset rather than miss them.
			return ErrReplayGap
		case err != nil:
			return err
		case m.Sequence > last:
			return nil
		}
		handle(m.Subject, m.Sequence, m.Data)
		seq = m.Sequence + 1
	}
	return nil
}
