package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/serve"
)

// Bounds of what a reconnecting event stream is replayed.
const (
	sseReplayMax     = 1000            // events after Last-Event-ID; more missed is a reset
	sseReplayTimeout = 5 * time.Second // to read them from JetStream
)

// streamEvents is a Server-Sent Events stream of the changes this replica sees. Each event's
// id is its sequence in the stream, and the stream opens with the id of the last event this
// replica has followed, so a browser that reconnects (EventSource sends the last id it saw
// as Last-Event-ID) is replayed what it missed, read back from JetStream: at most
// sseReplayMax events, within sseReplayTimeout. When that cannot be (more were missed, they
// are gone from the stream, or the stream is another one), the stream opens with an event
// named reset: the client should read the state again (the list, the numbers it shows).
func (s *Service) streamEvents(c echo.Context) error {
	req := c.Request()
	if err := noQuery(req.URL.RawQuery); err != nil {
		return err
	}
	if _, ok := negotiate(req.Header.Get(echo.HeaderAccept), mediaSSE); !ok {
		return notAcceptable(mediaSSE)
	}
	var (
		after  uint64
		resume bool
	)
	if v := req.Header.Get("Last-Event-ID"); v != "" {
		n, err := parseNumber(v)
		if err != nil {
			return problem(http.StatusBadRequest, "Last-Event-ID %s is not an id this stream sent (a plain integer)", clip(v))
		}
		after, resume = uint64(n), true
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, mediaSSE)
	resp.Header().Set("Cache-Control", "no-cache")
	resp.Header().Set("X-Accel-Buffering", "no")
	if req.Method == http.MethodHead {
		resp.WriteHeader(http.StatusOK)
		return nil
	}
	release, err := take(s.limits.streams, "event streams", 5)
	if err != nil {
		return err
	}
	defer release()
	// Subscribed before the replay is read, so nothing falls between the two; what both
	// carry is sent once (by sequence). last is the sequence of the last change published
	// before the subscription (taken with it), so the live changes are exactly those after it.
	changes, last, cancel := s.broker.subscribe()
	defer cancel()
	writeDeadline(c, serve.WriteTimeout)
	resp.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	buf.WriteString(": connected\n\n")
	ctx := req.Context()
	var sent uint64 // the last sequence sent
	if resume {
		sent = after
		s.replay(ctx, &buf, &sent, last)
	} else if last > 0 {
		// An id without an event: a browser that reconnects before any event says where it
		// stood all the same.
		buf.WriteString("id: " + strconv.FormatUint(last, 10) + "\n\n")
		sent = last
	}
	if _, err := resp.Write(buf.Bytes()); err != nil {
		return nil
	}
	resp.Flush()

	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		buf.Reset()
		select {
		case <-ctx.Done():
			return nil
		case <-s.streams.done:
			return nil
		case <-keepAlive.C:
			buf.WriteString(": keep-alive\n\n")
		case ch := <-changes:
			if ch.Seq != 0 && ch.Seq <= sent {
				continue // replayed already
			}
			writeChange(&buf, ch)
			sent = max(sent, ch.Seq)
		}
		writeDeadline(c, serve.WriteTimeout) // a client that stops reading is let go
		if _, err := resp.Write(buf.Bytes()); err != nil {
			return nil
		}
		resp.Flush()
	}
}

// replay writes to buf the events after *sent, read back from the stream, and moves *sent
// past them; or a reset event when they cannot all be had, with last (the sequence of the
// last change before the subscription) as its id, so a client that reconnects resumes from
// there instead of asking for what cannot be had again.
func (s *Service) replay(ctx context.Context, buf *bytes.Buffer, sent *uint64, last uint64) {
	rctx, cancel := context.WithTimeout(ctx, sseReplayTimeout)
	defer cancel()
	start := buf.Len()
	after := *sent
	err := s.follower.Replay(rctx, after, sseReplayMax, func(subject string, seq uint64, data []byte) {
		if ch, _, err := decodeChange(subject, seq, data); err == nil && ch.Kind != "" {
			writeChange(buf, ch.forStreams())
			*sent = max(*sent, ch.Seq)
		}
	})
	if err != nil {
		if !errors.Is(err, natsbus.ErrReplayGap) && ctx.Err() == nil {
			s.log.WarnContext(ctx, "replaying the events missed; the client is told to reset", "after", after, "err", err)
		}
		buf.Truncate(start)
		if last > 0 {
			buf.WriteString("id: " + strconv.FormatUint(last, 10) + "\n")
		}
		buf.WriteString("event: reset\ndata: {}\n\n")
		*sent = last // nothing replayed: every live event (each after last) is new to the client
	}
}

// writeChange writes a change as one SSE event: its id (the stream sequence), kind and data.
func writeChange(buf *bytes.Buffer, ch change) {
	if ch.Seq != 0 {
		buf.WriteString("id: ")
		buf.WriteString(strconv.FormatUint(ch.Seq, 10))
		buf.WriteByte('\n')
	}
	buf.WriteString("event: ")
	buf.WriteString(ch.Kind)
	buf.WriteString("\ndata: ")
	buf.Write(ch.Data)
	buf.WriteString("\n\n")
}
