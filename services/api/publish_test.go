package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// flakyPublisher fails every publish until a time, as a stream electing a new leader does.
type flakyPublisher struct {
	mu        sync.Mutex
	failUntil time.Time
	stored    map[string]int // by message id
	tries     int
}

func (f *flakyPublisher) PublishAll(_ context.Context, msgs []natsbus.Msg) ([]error, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(msgs))
	failed := 0
	for i, m := range msgs {
		f.tries++
		if time.Now().Before(f.failUntil) {
			errs[i], failed = errors.New("nats: no response from stream"), failed+1
			continue
		}
		f.stored[m.ID]++
	}
	return errs, failed
}

func (f *flakyPublisher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

// Requests accepted while the stream cannot take them (a leader election) are published once
// it can, without the reconciler; what cannot be published within retryFor is given up to it.
func TestRequestPublisherRetries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		outage    time.Duration
		retryFor  time.Duration
		published int
	}{
		{"a short outage: everything is published once it ends", 1500 * time.Millisecond, 30 * time.Second, 200},
		{"a long one: given up to the reconciler", time.Hour, time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pub := &flakyPublisher{failUntil: time.Now().Add(tt.outage), stored: map[string]int{}}
			p := newRequestPublisher(pub, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
			p.retryFor = tt.retryFor
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); p.run(ctx) }()
			for n := range int64(200) {
				p.enqueue(context.Background(), database.Record{Number: n, RequestedAt: time.Now().UTC()})
			}
			deadline := time.Now().Add(tt.outage + 5*time.Second)
			if tt.published == 0 {
				deadline = time.Now().Add(tt.retryFor + 3*time.Second)
			}
			for time.Now().Before(deadline) && pub.count() < tt.published {
				time.Sleep(20 * time.Millisecond)
			}
			if tt.published == 0 {
				for time.Now().Before(deadline) && testutil.ToFloat64(p.failed) < 200 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			cancel()
			<-done
			if got := pub.count(); got != tt.published {
				t.Errorf("%d requests published, want %d", got, tt.published)
			}
			for id, c := range pub.stored {
				if c != 1 {
					t.Errorf("%s published %d times", id, c)
				}
			}
			if got := testutil.ToFloat64(p.failed); got != float64(200-tt.published) {
				t.Errorf("%v counted as not published, want %d", got, 200-tt.published)
			}
			t.Logf("%d tries", pub.tries)
		})
	}
}
