package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// post POSTs n as the client at addr and returns the recorder.
func post(s *Service, n int64, addr string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/factorial", strings.NewReader(fmt.Sprintf(`{"number": %d}`, n)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int, what string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: %d %s, want %d", what, rec.Code, rec.Body, status)
	}
	if status >= 400 {
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: Content-Type %q, want problem+json", what, ct)
		}
		if ra := rec.Header().Get("Retry-After"); ra == "" {
			t.Errorf("%s: no Retry-After", what)
		}
	}
}

// Past the budget of queued heavy work, a new large request gets 503 with Retry-After, while
// small requests, and large ones already queued, are still taken; once work is done, large
// requests are taken again.
func TestAdmissionBudget(t *testing.T) {
	s, _ := newTestService(t, func(c *Config, _ *Deps) {
		c.MaxNumber = 100_000
		c.LargeBudget = events.Cost(40_000) + events.Cost(50_000) + time.Microsecond
	})
	const client = "192.0.2.10:4000"
	wantStatus(t, post(s, 30_000, client), http.StatusAccepted, "the first large request")
	wantStatus(t, post(s, 40_000, client), http.StatusAccepted, "the second, within the budget")
	full := post(s, 50_000, client)
	wantStatus(t, full, http.StatusServiceUnavailable, "a third, beyond the budget")
	if !strings.Contains(full.Body.String(), "queue of large computations is full") {
		t.Errorf("503 detail: %s", full.Body)
	}
	if _, err := s.records.Get(t.Context(), 50_000); err == nil {
		t.Error("the refused request was recorded")
	}
	wantStatus(t, post(s, 100, client), http.StatusAccepted, "a small request, with the budget full")
	wantStatus(t, post(s, events.SmallMaxNumber, client), http.StatusAccepted, "the largest small request, with the budget full")
	wantStatus(t, post(s, 30_000, "192.0.2.99:1"), http.StatusAccepted, "a large request already queued, asked again")

	// 30,000 is computed: its cost leaves the queue.
	f := s.records.(*database.Factorials)
	now := time.Now().UTC()
	if _, ok, err := f.Claim(t.Context(), 30_000, "w", now, now); err != nil || !ok {
		t.Fatalf("claim: %v", err)
	}
	if _, err := f.Complete(t.Context(), 30_000, "w", database.Result{Text: "1", Checksum: "c", Size: 1, Digits: 1}, now); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, post(s, 50_000, client), http.StatusAccepted, "the third, once the budget has room")
}

// One client may have at most ADMISSION_LARGE_PER_CLIENT large requests queued: beyond, 429
// with Retry-After; another client is still served, and small requests too.
func TestAdmissionPerClient(t *testing.T) {
	s, _ := newTestService(t, func(c *Config, _ *Deps) {
		c.MaxNumber = 100_000
		c.LargePerClient = 2
	})
	const greedy, other = "192.0.2.20:5000", "192.0.2.21:5000"
	wantStatus(t, post(s, 30_001, greedy), http.StatusAccepted, "first")
	wantStatus(t, post(s, 30_002, greedy), http.StatusAccepted, "second")
	third := post(s, 30_003, greedy)
	wantStatus(t, third, http.StatusTooManyRequests, "the third of one client")
	if !strings.Contains(third.Body.String(), "2 large requests") {
		t.Errorf("429 detail: %s", third.Body)
	}
	wantStatus(t, post(s, 30_003, other), http.StatusAccepted, "another client, the same number")
	wantStatus(t, post(s, 7, greedy), http.StatusAccepted, "a small request of the limited client")
	wantStatus(t, post(s, 30_001, greedy), http.StatusAccepted, "a request of its own, asked again")
}

// slowQueue is the records with a slow count of the large queue, as a loaded database gives.
type slowQueue struct {
	*database.Factorials
	delay time.Duration
}

func (q slowQueue) QueuedLarge(ctx context.Context, client string) (time.Duration, int, error) {
	time.Sleep(q.delay)
	return q.Factorials.QueuedLarge(ctx, client)
}

// A burst of POSTs of one new large number (a page reloaded by many, a retrying client) is
// not held to the admission checks one after the other: once the first has made it pending,
// the others are requests for work already queued. Before, each waited its turn for the
// checks, and with a database a little slow the last ones ran out of their second and got
// 503.
func TestAdmissionBurstOfOneNumber(t *testing.T) {
	s, _ := newTestService(t, func(c *Config, d *Deps) {
		c.MaxNumber = 100_000
		c.LargeBudget, c.LargePerClient = time.Hour, 100
		d.Records = slowQueue{Factorials: database.NewFactorials(dbtest.SQLite(t)), delay: 100 * time.Millisecond}
	})
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := range 40 {
		wg.Go(func() { codes <- post(s, 50_000, fmt.Sprintf("192.0.2.%d:1", i)).Code })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("a POST of the number being queued got %d, want 202", code)
		}
	}
}
