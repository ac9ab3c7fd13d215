package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// Every answer names its request in X-Request-Id (the client's own when it sends a sensible
// one), and the log lines about it carry that id: the line of every request, and the lines
// logged further down by a read that goes past the process's memory.
func TestRequestIDs(t *testing.T) {
	var logs syncBuffer
	shared := cache.NewMemory(10)
	f := newFixture(t, func(_ *Config, d *Deps) {
		d.Log = slog.New(telemetry.LogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		d.Cache = shared
	})
	f.done(5)
	f.do(http.MethodGet, "/api/v1/factorial/5", "") // now answered from memory

	seen := map[string]bool{}
	for range 3 {
		id := f.do(http.MethodGet, "/api/v1/factorial/5", "").header.Get("X-Request-Id")
		if !validRequestID(id) || seen[id] {
			t.Fatalf("X-Request-Id %q (seen before: %v); want a new sensible id for each request", id, seen[id])
		}
		seen[id] = true
	}
	if id := f.do(http.MethodGet, "/api/v1/factorial/metadata/5", "", "X-Request-Id", "client-42").header.Get("X-Request-Id"); id != "client-42" {
		t.Errorf("X-Request-Id %q; want the client's client-42", id)
	}
	if id := f.do(http.MethodGet, "/api/v1/factorial/5", "", "X-Request-Id", "bad id!").header.Get("X-Request-Id"); id == "bad id!" || !validRequestID(id) {
		t.Errorf("X-Request-Id %q for a client's unusable one; want one of ours", id)
	}

	// A read past memory: the shared cache holds something unreadable for a pending n.
	f.pending(7)
	if err := shared.Set(context.Background(), cacheKey(7), []byte("not json"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/7", "", "X-Request-Id", "past-memory"); r.status != http.StatusAccepted {
		t.Fatalf("GET of a pending n: %d", r.status)
	}

	lines := map[string][]string{} // request id → messages
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if id, ok := m["request_id"].(string); ok {
			lines[id] = append(lines[id], m["msg"].(string))
		}
	}
	for id := range seen {
		if len(lines[id]) != 1 || lines[id][0] != "http" {
			t.Errorf("lines of request %s: %v; want its http line", id, lines[id])
		}
	}
	if got := strings.Join(lines["past-memory"], "|"); got != "cache entry unreadable; ignoring it|http" {
		t.Errorf("lines of request past-memory: %q; want the cache's warning, then its http line", got)
	}
}

// A cached read allocates nothing of its own, whether the request names itself or not: the
// request id comes from a batch made once per 64 requests, the request and its context are
// not copied, the series of the metrics are found without prometheus's hashing, and the
// answer's bytes and headers are made once per result (hot.go). Allocation counts are those
// of this handler alone; net/http allocates for every request around it, the bare handler's
// as much.
func TestCachedReadAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops echo's contexts at random")
	}
	f := newFixture(t)
	f.done(100)
	for _, tc := range []struct {
		name, target string
		header       []string
		max          float64
	}{
		{"json", "/api/v1/factorial/100", nil, 0},
		{"metadata", "/api/v1/factorial/metadata/100", nil, 0},
		{"head", "/api/v1/factorial/100", nil, 0},
		{"json with the client's request id", "/api/v1/factorial/100", []string{"X-Request-Id", "client-7"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if tc.name == "head" {
				method = http.MethodHead
			}
			f.do(method, tc.target, "") // cached, and its series made
			req := httptest.NewRequest(method, tc.target, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			w := &discardWriter{h: http.Header{}}
			h := f.s.Handler()
			written := 0
			allocs := testing.AllocsPerRun(1000, func() {
				clear(w.h)
				h.ServeHTTP(w, req)
				written = len(w.h["Content-Type"])
			})
			if written != 1 {
				t.Fatalf("no answer written: headers %v", w.h)
			}
			if allocs > tc.max {
				t.Errorf("%s %s: %.0f allocations per request; want at most %.0f", method, tc.target, allocs, tc.max)
			}
		})
	}
}

// Request ids taken at once from many goroutines, across batches, are all different and
// sensible, and each header value holds one id.
func TestNewRequestIDsAreUnique(t *testing.T) {
	const goroutines, each = 8, 1000
	got := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for range each {
				v := newRequestID()
				if len(v) != 1 || cap(v) != 1 {
					t.Errorf("header value %q of cap %d; want one id, no room to append into the batch", v, cap(v))
					return
				}
				got[g] = append(got[g], v[0])
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range got {
		for _, id := range ids {
			if seen[id] || !validRequestID(id) || !strings.HasPrefix(id, idPrefix+"-") {
				t.Fatalf("id %q (seen before: %v)", id, seen[id])
			}
			seen[id] = true
		}
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d ids; want %d", len(seen), goroutines*each)
	}
}
