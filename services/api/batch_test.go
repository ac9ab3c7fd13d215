package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// countingRecorder is the real repository, counting its statements and slowed down as a
// disk sync would.
type countingRecorder struct {
	*database.Factorials
	calls   atomic.Int32
	biggest atomic.Int32
	delay   time.Duration
	err     error
}

func (c *countingRecorder) RequestBatch(ctx context.Context, reqs []database.NewRequest, now time.Time) ([]database.Requested, error) {
	c.calls.Add(1)
	for {
		b := c.biggest.Load()
		if int32(len(reqs)) <= b || c.biggest.CompareAndSwap(b, int32(len(reqs))) {
			break
		}
	}
	time.Sleep(c.delay)
	if c.err != nil {
		return nil, c.err
	}
	return c.Factorials.RequestBatch(ctx, reqs, now)
}

// Many concurrent requests are recorded by a few statements, each gets its own record, and
// of the requests for one number exactly one made it pending.
func TestConcurrentRequestsShareStatements(t *testing.T) {
	rec := &countingRecorder{Factorials: database.NewFactorials(dbtest.SQLite(t)), delay: 20 * time.Millisecond}
	b := newRequestBatcher(rec, nil)
	const clients = 300
	var created atomic.Int32
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			n := int64(i % 100) // three requests per number
			r, made, err := b.request(t.Context(), n, "client")
			if err != nil || r.Number != n || r.Status != database.StatusPending {
				t.Errorf("request %d: %+v %v", n, r, err)
			}
			if made {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 100 {
		t.Errorf("%d requests made a number pending, want one per number (100)", created.Load())
	}
	if calls := rec.calls.Load(); calls > clients/10 {
		t.Errorf("%d statements for %d concurrent requests (largest batch %d), want them shared", calls, clients, rec.biggest.Load())
	}
	t.Logf("%d requests in %d statements, largest batch %d", clients, rec.calls.Load(), rec.biggest.Load())
}

// A failed statement fails every request in it, with the database's error; a caller that
// leaves does not wait for the statement.
func TestRequestBatchErrorsAndLeavers(t *testing.T) {
	boom := errors.New("database is down")
	rec := &countingRecorder{Factorials: database.NewFactorials(dbtest.SQLite(t)), delay: 300 * time.Millisecond, err: boom}
	b := newRequestBatcher(rec, nil)
	var wg sync.WaitGroup
	for n := range int64(10) {
		wg.Go(func() {
			if _, _, err := b.request(t.Context(), n, ""); !errors.Is(err, boom) {
				t.Errorf("request %d: %v, want the database's error", n, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := b.request(ctx, 99, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a caller whose deadline passes: %v", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("the caller waited %v past its deadline", took)
	}
	wg.Wait()
}

// countingReader is the real repository, counting its reads and slowed down as a loaded
// database would be.
type countingReader struct {
	*database.Factorials
	calls atomic.Int32
	delay time.Duration
	err   error
}

func (c *countingReader) GetMany(ctx context.Context, ns []int64) ([]database.Record, error) {
	c.calls.Add(1)
	time.Sleep(c.delay)
	if c.err != nil {
		return nil, c.err
	}
	return c.Factorials.GetMany(ctx, ns)
}

// Many concurrent reads are answered by a few statements, each with its own record (or not
// found, as Get says it); a read alone is one statement at once.
func TestConcurrentReadsShareStatements(t *testing.T) {
	records := database.NewFactorials(dbtest.SQLite(t))
	var reqs []database.NewRequest
	for n := range int64(100) {
		reqs = append(reqs, database.NewRequest{Number: n})
	}
	if _, err := records.RequestBatch(t.Context(), reqs, time.Now()); err != nil {
		t.Fatal(err)
	}
	rd := &countingReader{Factorials: records, delay: 20 * time.Millisecond}
	b := newReadBatcher(rd)

	start := time.Now()
	if rec, err := b.get(t.Context(), 7); err != nil || rec.Number != 7 {
		t.Fatalf("read alone: %+v %v", rec, err)
	}
	if took := time.Since(start); took > 15*rd.delay {
		t.Errorf("a read alone took %v", took)
	}

	rd.calls.Store(0)
	const clients = 300
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			n := int64(i % 150) // 100 to 149 were never requested
			rec, err := b.get(t.Context(), n)
			switch {
			case n >= 100 && !errors.Is(err, database.ErrNotFound):
				t.Errorf("read %d, never requested: %+v %v, want not found", n, rec, err)
			case n < 100 && (err != nil || rec.Number != n || rec.Status != database.StatusPending):
				t.Errorf("read %d: %+v %v", n, rec, err)
			}
		})
	}
	wg.Wait()
	if calls := rd.calls.Load(); calls > clients/10 {
		t.Errorf("%d statements for %d concurrent reads, want them shared", calls, clients)
	}
	t.Logf("%d reads in %d statements", clients, rd.calls.Load())
}

// A failed read fails every request in it with the database's error; a caller that leaves
// does not wait for the statement.
func TestReadBatchErrorsAndLeavers(t *testing.T) {
	boom := errors.New("database is down")
	rd := &countingReader{Factorials: database.NewFactorials(dbtest.SQLite(t)), delay: 300 * time.Millisecond, err: boom}
	b := newReadBatcher(rd)
	var wg sync.WaitGroup
	for n := range int64(10) {
		wg.Go(func() {
			if _, err := b.get(t.Context(), n); !errors.Is(err, boom) {
				t.Errorf("read %d: %v, want the database's error", n, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.get(ctx, 99); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a caller whose deadline passes: %v", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("the caller waited %v past its deadline", took)
	}
	wg.Wait()
}

func TestClientID(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/v1/factorial", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	if got := clientID(r); got != "192.0.2.7" {
		t.Errorf("clientID = %q, want the remote host", got)
	}
	r.RemoteAddr = "[2001:db8::1]:443"
	if got := clientID(r); got != "2001:db8::/64" {
		t.Errorf("clientID = %q, want the remote IPv6 host's /64", got)
	}
	r = r.WithContext(withClient(r.Context(), "key:ops"))
	if got := clientID(r); got != "key:ops" {
		t.Errorf("clientID = %q, want the identity the middleware set", got)
	}
}

// A statement slower than a POST's wait (dbWait): the POST is answered 503, yet the row is
// committed and made pending, so its publication must be queued all the same (a retry finds
// it pending and made nothing pending). A POST that gave up while still queued behind that
// statement is not recorded at all.
func TestSlowStatementStillPublishesWhatItRecorded(t *testing.T) {
	recs := database.NewFactorials(dbtest.SQLite(t))
	slow := &countingRecorder{Factorials: recs, delay: dbWait + dbWait/2}
	f := newFixture(t, func(c *Config, d *Deps) { d.Records = slow })
	queuedBehind := make(chan reply, 1)
	go func() {
		for slow.calls.Load() == 0 { // once 77's statement runs: 78 waits behind it
			time.Sleep(time.Millisecond)
		}
		queuedBehind <- f.do(http.MethodPost, "/api/v1/factorial", `{"number": 78}`, "Content-Type", "application/json")
	}()
	problemOf(t, f.do(http.MethodPost, "/api/v1/factorial", `{"number": 77}`, "Content-Type", "application/json"), http.StatusServiceUnavailable)
	problemOf(t, <-queuedBehind, http.StatusServiceUnavailable)

	deadline := time.Now().Add(requestDBTimeout)
	for len(f.s.publisher.queue) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rec, err := recs.Get(t.Context(), 77); err != nil || rec.Status != database.StatusPending {
		t.Fatalf("77 after its statement: %+v %v, want pending", rec, err)
	}
	if got := len(f.s.publisher.queue); got != 1 {
		t.Fatalf("%d requests queued for publication, want 77's", got)
	}
	if q := <-f.s.publisher.queue; q.msg.Subject != events.RequestedSubject(77) {
		t.Errorf("queued %s, want 77's request", q.msg.Subject)
	}
	time.Sleep(dbWait) // 78 would have been recorded by now
	if _, err := recs.Get(t.Context(), 78); !errors.Is(err, database.ErrNotFound) {
		t.Errorf("78, whose POST gave up before its statement started, was recorded (%v)", err)
	}
}
