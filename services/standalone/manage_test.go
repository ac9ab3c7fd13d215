package standalone_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// sseEvent is one event of GET /api/v1/events.
type sseEvent struct {
	ID, Event, Data string
}

// events opens the event stream (resuming after lastID when it is not empty) and returns
// its events until the test ends.
func (s *service) events(t *testing.T, lastID string) <-chan sseEvent {
	t.Helper()
	evs, stop := s.openEvents(t, lastID)
	t.Cleanup(stop)
	return evs
}

// openEvents is events, with a function that closes the stream.
func (s *service) openEvents(t *testing.T, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /api/v1/events: %d", resp.StatusCode)
	}
	out := make(chan sseEvent, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		var ev sseEvent
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || ev.ID != "" {
					out <- ev // an id alone (Event "") too: the position the stream opens with
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[len("data: "):]
			}
		}
	}()
	return out, func() { cancel(); resp.Body.Close(); <-done }
}

// next waits for the first event of kind about n.
func next(t *testing.T, evs <-chan sseEvent, kind string, n int64) sseEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the event stream ended before %s of %d", kind, n)
			}
			var p struct{ Number int64 }
			if ev.Event == kind && json.Unmarshal([]byte(ev.Data), &p) == nil && p.Number == n {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %d within 20s", kind, n)
		}
	}
}

// list reads every page of GET /api/v1/factorial?query, limit items a page.
func (s *service) list(t *testing.T, query string, limit int) []map[string]any {
	t.Helper()
	var items []map[string]any
	cursor := ""
	for range 100 {
		q, _ := url.ParseQuery(query)
		q.Set("limit", fmt.Sprint(limit))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := s.get("/api/v1/factorial?" + q.Encode())
		if r.status != http.StatusOK {
			t.Fatalf("list %s: %d %s", q.Encode(), r.status, r.body)
		}
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		items = append(items, page.Items...)
		if page.NextCursor == "" {
			return items
		}
		cursor = page.NextCursor
	}
	t.Fatal("paging did not end")
	return nil
}

func numbersOf(items []map[string]any) []int64 {
	var ns []int64
	for _, it := range items {
		ns = append(ns, int64(it["number"].(float64)))
	}
	return ns
}

// The list pages through every request newest first, filters by status, and refuses what it
// cannot read with a problem; DELETE answers 404 for a number never asked and 409 for one done.
func TestListAndCancelOverHTTP(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	asked := []int64{5, 7, 3, 11, 2}
	for _, n := range asked {
		s.post(n)
		s.waitDone(n)
	}
	newestFirst := []int64{2, 11, 3, 7, 5}

	if got := numbersOf(s.list(t, "", 2)); !slices.Equal(got, newestFirst) {
		t.Fatalf("listed %v, want %v", got, newestFirst)
	}
	items := s.list(t, "status=done", 200)
	if got := numbersOf(items); !slices.Equal(got, newestFirst) {
		t.Fatalf("done: %v, want %v", got, newestFirst)
	}
	if got := s.list(t, "status=pending,computing,failed", 10); len(got) != 0 {
		t.Fatalf("pending, computing or failed: %v, want none", got)
	}
	if it := items[0]; it["digits"] != 1.0 || it["result_url"] != "/api/v1/factorial/2?format=text" || it["compute_ms"] == nil || it["factorial_result"] != nil {
		t.Errorf("item of 2!: %v; want digits, result_url and compute_ms, no digits inline", it)
	}

	for _, bad := range []string{"cursor=nonsense", "cursor=MTIz", "limit=0", "limit=201", "limit=05", "status=lost",
		"status=done,", "status=done&status=failed", "page=2", "limit=%zz"} {
		r := s.get("/api/v1/factorial?" + bad)
		if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET ?%s: %d %s; want a 400 problem", bad, r.status, r.body)
		}
	}

	if r := s.request(http.MethodDelete, "/api/v1/factorial/999", "", ""); r.status != http.StatusNotFound {
		t.Errorf("DELETE of a number never asked: %d %s", r.status, r.body)
	}
	if r := s.request(http.MethodDelete, "/api/v1/factorial/5", "", ""); r.status != http.StatusConflict ||
		!strings.Contains(string(r.body), "already computed") {
		t.Errorf("DELETE of a done number: %d %s; want 409", r.status, r.body)
	}
	if r := s.request(http.MethodDelete, "/api/v1/factorial/05", "", ""); r.status != http.StatusBadRequest {
		t.Errorf("DELETE /05: %d %s; want 400", r.status, r.body)
	}
	if r := s.get("/api/v1/factorial/metadata/5").json(t); r["status"] != "done" {
		t.Errorf("5 after a refused DELETE: %v", r)
	}
}

// longComputation is an engine whose n = 10,000,000 (about a second of work on the
// development machine, and more on a loaded one) reports when it starts making progress and
// when it stops; other numbers are computed as usual.
type longComputation struct {
	*countingEngine
	started chan struct{}
	stopped chan longStop
}

type longStop struct {
	at  time.Time
	err error
}

const longN = 10_000_000

func newLongComputation() *longComputation {
	e := &longComputation{started: make(chan struct{}, 4), stopped: make(chan longStop, 4)}
	var mu sync.Mutex
	e.countingEngine = newCountingEngine(func(ctx context.Context, k uint64, w io.Writer, progress func(float64)) (int64, error) {
		if k != longN {
			return factorial.Write(ctx, k, w, progress)
		}
		mu.Lock()
		defer mu.Unlock() // one computation of n at a time, so each stop is the one measured
		first := true
		digits, err := factorial.Write(ctx, k, w, func(p float64) {
			if first && p > 0 {
				first = false
				e.started <- struct{}{}
			}
			progress(p)
		})
		e.stopped <- longStop{time.Now(), err}
		return digits, err
	})
	return e
}

func (e *longComputation) computing(t *testing.T) {
	t.Helper()
	select {
	case <-e.started:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d! did not start computing", longN)
	}
}

// stoppedWithin checks that the computation stopped unfinished within bound of asked.
func (e *longComputation) stoppedWithin(t *testing.T, asked time.Time, bound time.Duration) time.Duration {
	t.Helper()
	select {
	case st := <-e.stopped:
		took := st.at.Sub(asked)
		if st.err == nil {
			t.Fatalf("the engine finished %v after the cancel, want it stopped", took)
		}
		if took > bound {
			t.Errorf("the engine stopped %v after the cancel, want within %v", took, bound)
		}
		return took
	case <-time.After(30 * time.Second):
		t.Fatal("the computation did not stop within 30s of the cancel")
		return 0
	}
}

// A cancel stops a real long computation (10,000,000!) within a second, by the
// factorial.cancelled event; the record stays cancelled, SSE says so, a waiting GET answers
// at once, and a POST starts it anew.
func TestCancelStopsALongComputation(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.API.MaxNumber, cfg.Calculator.MaxNumber = longN, longN
	// Heartbeats 3 s apart: the computation ends by itself before the first one, so a stop is
	// the event's doing.
	cfg.Calculator.ProgressEvery, cfg.Calculator.Lease, cfg.Calculator.AckWait = 3*time.Second, 9*time.Second, 13*time.Second
	engine := newLongComputation()
	s := start(t, cfg, engine.countingEngine)
	evs := s.events(t, "")
	path := fmt.Sprintf("/api/v1/factorial/%d", longN)

	if r := s.post(longN); r.status != http.StatusAccepted {
		t.Fatalf("POST %d: %d %s", longN, r.status, r.body)
	}
	engine.computing(t)
	if got := samples(t, s)["factorial_calculator_in_flight{}"]; got != 1 {
		t.Errorf("factorial_calculator_in_flight = %v while computing, want 1", got)
	}
	asked := time.Now()
	r := s.request(http.MethodDelete, path, "", "")
	if r.status != http.StatusOK || r.json(t)["status"] != "cancelled" {
		t.Fatalf("DELETE while computing: %d %s", r.status, r.body)
	}
	// Within a second (milliseconds on an idle machine); the bound leaves room for a loaded one.
	t.Logf("stopped %v after the DELETE", engine.stoppedWithin(t, asked, 2*time.Second))
	next(t, evs, "cancelled", longN)

	if r := s.get(path + "?wait=30s"); r.status != http.StatusOK || r.json(t)["status"] != "cancelled" {
		t.Errorf("GET ?wait of a cancelled number: %d %s; want 200 cancelled at once", r.status, r.body)
	}
	if r := s.request(http.MethodDelete, path, "", ""); r.status != http.StatusOK || r.json(t)["status"] != "cancelled" {
		t.Errorf("DELETE again: %d %s; want the same 200", r.status, r.body)
	}
	time.Sleep(300 * time.Millisecond) // a claim released after the stop would show by now
	if m := s.get("/api/v1/factorial/metadata/" + fmt.Sprint(longN)).json(t); m["status"] != "cancelled" {
		t.Errorf("metadata after the cancel: %v; want it to stay cancelled", m)
	}
	if got := numbersOf(s.list(t, "status=cancelled", 10)); !slices.Equal(got, []int64{longN}) {
		t.Errorf("cancelled list: %v", got)
	}
	if r := s.post(longN); r.status != http.StatusAccepted || r.json(t)["status"] != "pending" {
		t.Fatalf("POST after the cancel: %d %s; want 202 pending", r.status, r.body)
	}
	engine.computing(t)
	if r := s.request(http.MethodDelete, path, "", ""); r.status != http.StatusOK {
		t.Fatalf("DELETE of the new request: %d %s", r.status, r.body)
	}
	engine.stoppedWithin(t, time.Now(), 30*time.Second)
	if got := engine.count(longN); got != 2 {
		t.Errorf("%d! computed %d times, want 2", longN, got)
	}
}

// A cancel whose event is lost (here the record is cancelled behind the service's back) is
// caught by the computation's next heartbeat, which finds its claim gone.
func TestCancelWithoutTheEventStopsAtTheHeartbeat(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.API.MaxNumber, cfg.Calculator.MaxNumber = longN, longN
	engine := newLongComputation()
	s := start(t, cfg, engine.countingEngine)
	s.post(longN)
	engine.computing(t)
	db, err := database.Open(context.Background(), filepath.Join(cfg.DataDir, "factorial.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	asked := time.Now()
	if _, ok, err := database.NewFactorials(db).Cancel(context.Background(), longN, time.Now().UTC()); err != nil || !ok {
		t.Fatalf("cancel in the database: %v %v", ok, err)
	}
	t.Logf("stopped %v after the cancel in the database (heartbeat every %v)",
		engine.stoppedWithin(t, asked, 2*time.Second+cfg.Calculator.ProgressEvery), cfg.Calculator.ProgressEvery)
	time.Sleep(300 * time.Millisecond)
	if m := s.get("/api/v1/factorial/metadata/" + fmt.Sprint(longN)).json(t); m["status"] != "cancelled" {
		t.Errorf("metadata after the cancel: %v; want it to stay cancelled", m)
	}
}
