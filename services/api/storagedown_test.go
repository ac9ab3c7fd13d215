package api

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// silentStore stops answering on demand, as the S3 store reports it within its bounds
// (objectstore.ErrNoAnswer: platform/objectstore TestS3ReadsFailWhenTheStoreStopsAnswering).
type silentStore struct {
	*objectstore.Memory
	silent atomic.Bool
}

func (s *silentStore) Open(ctx context.Context, key string) (objectstore.Reader, error) {
	if s.silent.Load() {
		return nil, fmt.Errorf("objectstore: open %q: %w within 2s", key, objectstore.ErrNoAnswer)
	}
	return s.Memory.Open(ctx, key)
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
