package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Limits bounds what clients hold open in the API; its fields are environment variables.
// (The number of connections is bounded by the server: HTTP_MAX_CONNECTIONS.)
type Limits struct {
	MaxWaiters      int `env:"HTTP_MAX_WAITERS" envDefault:"2048"`       // GETs waiting with ?wait at once
	MaxEventStreams int `env:"HTTP_MAX_EVENT_STREAMS" envDefault:"1024"` // Server-Sent Events streams open at once
}

func (l Limits) validate() error {
	switch {
	case l.MaxWaiters < 1:
		return errors.New("HTTP_MAX_WAITERS must be 1 or more")
	case l.MaxEventStreams < 1:
		return errors.New("HTTP_MAX_EVENT_STREAMS must be 1 or more")
	}
	return nil
}

// limits holds a place for each waiter and each event stream.
type limits struct {
	waiters, streams chan struct{}
}

func newLimits(l Limits) *limits {
	if l.MaxWaiters == 0 {
		l.MaxWaiters = 2048
	}
	if l.MaxEventStreams == 0 {
		l.MaxEventStreams = 1024
	}
	return &limits{waiters: make(chan struct{}, l.MaxWaiters), streams: make(chan struct{}, l.MaxEventStreams)}
}

// take holds a place in sem, or answers a 503 problem (Retry-After) when there is none; the
// returned function gives the place back.
func take(sem chan struct{}, what string, retryAfter int) (func(), error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	default:
		return nil, unavailable("too many "+what+" are open ("+itoa(cap(sem))+", the limit)", retryAfter)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// writeDeadline moves the deadline by which the response must be written (or, streaming,
// make progress): serve gives every request serve.WriteTimeout.
func writeDeadline(c echo.Context, d time.Duration) {
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(d))
}
