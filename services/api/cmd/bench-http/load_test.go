package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLoaders: both load generators count the answers of a real server, tell a 404 from a
// 200, and measure latencies and their own CPU.
func TestLoaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		time.Sleep(time.Millisecond)
		_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	loaders := []loader{builtinLoad{}}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Log("wrk is not on PATH (Debian: apt-get install wrk): only the built-in generator is tested")
	} else {
		w, err := newWrkLoad(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		loaders = append(loaders, w)
	}
	for _, l := range loaders {
		t.Run(l.String(), func(t *testing.T) {
			ok, err := l.load(addr, "/ok", 2, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			// Two connections, one request at a time each, 1 ms a request: at most 2,000.
			if ok.requests < 100 || ok.requests > 2100 || ok.errors != 0 {
				t.Errorf("/ok: %d requests, %d errors; want 100 to 2,100 and none", ok.requests, ok.errors)
			}
			if ok.rps <= 0 || ok.p50 < time.Millisecond || ok.p99 < ok.p50 || ok.generate <= 0 {
				t.Errorf("/ok: %.0f requests/s, p50 %v, p99 %v, generator CPU %v", ok.rps, ok.p50, ok.p99, ok.generate)
			}
			missing, err := l.load(addr, "/missing", 2, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if missing.errors != missing.requests || missing.requests == 0 {
				t.Errorf("/missing: %d of %d answers counted as errors; want all", missing.errors, missing.requests)
			}
		})
	}
}
