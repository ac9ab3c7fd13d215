package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// silentStore stops answering on demand, as the S3 store reports it within its bounds
// (objectstore.ErrNoAnswer: platform/objectstore TestS3ReadsFailWhenTheStoreStopsAnswering).
type silentStore struct {
	*objectstore.Memory
	silent atomic.Bool
	failAt atomic.Int64 // when not 0, reads fail past this many bytes of an object
}

func (s *silentStore) Open(ctx context.Context, key string) (objectstore.Reader, error) {
	if s.silent.Load() {
		return nil, fmt.Errorf("objectstore: open %q: %w within 2s", key, objectstore.ErrNoAnswer)
	}
	r, err := s.Memory.Open(ctx, key)
	if at := s.failAt.Load(); err == nil && at > 0 {
		return &failingReader{Reader: r, left: at}, nil
	}
	return r, err
}

// failingReader stops answering after left bytes, as an S3 body that stalls does.
type failingReader struct {
	objectstore.Reader
	left int64
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, fmt.Errorf("objectstore: read: %w within 10s", objectstore.ErrNoAnswer)
	}
	n, err := r.Reader.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	return n, err
}

// Storage that does not answer is a dependency down: 503 with Retry-After for every read of
// the digits (and a POST of a done number, which answers with them), never a 500 or a hang,
// and the result is not sent back to be computed: nothing is wrong with it.
func TestStorageNotAnsweringIs503(t *testing.T) {
	mem := objectstore.NewMemory()
	store := &silentStore{Memory: mem}
	f := newFixture(t, func(c *Config, d *Deps) { d.Store = store; c.LocalCacheBytes = 0 })
	f.store = mem
	f.done(300)
	store.silent.Store(true)
	for _, tc := range []struct{ method, target, body string }{
		{http.MethodGet, "/api/v1/factorial/300", ""},
		{http.MethodGet, "/api/v1/factorial/300?format=text", ""},
		{http.MethodPost, "/api/v1/factorial", `{"number": 300}`},
	} {
		r := f.do(tc.method, tc.target, tc.body, "Content-Type", "application/json")
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
			r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q Retry-After %q, want a 503 problem with Retry-After",
				tc.method, tc.target, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	if rec, err := f.records.Get(context.Background(), 300); err != nil || rec.Status != database.StatusDone {
		t.Errorf("record after storage did not answer: %v %v, want it still done", rec.Status, err)
	}
	store.silent.Store(false)
	if r := f.do(http.MethodGet, "/api/v1/factorial/300?format=text", ""); r.status != http.StatusOK || r.body != digits(300) {
		t.Errorf("once storage answers again: %d, %d bytes", r.status, len(r.body))
	}
}

// Storage that fails in the middle of a download cuts it: the client must not be able to take
// what it got for the whole text. With gzip the body is chunked, and an error returned by the
// handler would end it with its last chunk, as if whole.
func TestStorageFailingMidDownloadCutsIt(t *testing.T) {
	mem := objectstore.NewMemory()
	store := &silentStore{Memory: mem}
	f := newFixture(t, func(c *Config, d *Deps) { d.Store = store; c.LocalCacheBytes = 0 })
	f.store = mem
	text := f.done(20000) // 77,338 digits: more than a download holds back, so it streams
	store.failAt.Store(int64(len(text)) - 5000)
	for _, encoding := range []string{"gzip", "identity"} {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/factorial/20000?format=text", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := f.client.Do(req)
		if err != nil {
			continue // cut before the headers were sent (the gzip writer had not flushed them)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err == nil {
			t.Errorf("%s: %d, %d bytes read without an error: the download was not cut", encoding, resp.StatusCode, len(body))
		}
	}
}

// silentCache is a cache that does not answer (Redis behind a black hole): every call waits
// for its context.
type silentCache struct{}

func (silentCache) Get(ctx context.Context, _ string) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (silentCache) Set(ctx context.Context, _ string, _ []byte, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}
func (silentCache) Delete(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
func (silentCache) Ping(ctx context.Context) error             { <-ctx.Done(); return ctx.Err() }

// Dropping a result from a cache that does not answer waits cacheWait, as every cache call
// does, not as long as the cache client's own timeouts and retries: it runs in a request (a
// result sent back to be computed) and in the write-behind lane of a factorial.failed.
func TestForgettingWaitsForTheCacheAtMostCacheWait(t *testing.T) {
	f := newFixture(t, func(_ *Config, d *Deps) { d.Cache = silentCache{} })
	start := time.Now()
	f.s.results.forget(context.Background(), 5)
	if took := time.Since(start); took > 4*cacheWait {
		t.Errorf("forget took %v with a cache that does not answer, want about %v", took, cacheWait)
	}
}
