package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/testenv"
)

// With PostgreSQL cut off (connections reset) or black-holed (nothing answers), every request
// the cache cannot serve gets a 503 problem with Retry-After within 2 s, never a 500 or a
// hang; finished results already cached are still served, metadata included; and everything
// works again once the database is back.
func TestDatabaseDown(t *testing.T) {
	raw := dbtest.PostgresURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f := newFixture(t, func(c *Config, d *Deps) {
		d.Records = database.NewFactorials(db)
		// A large request goes through admission control, which reads the database first.
		c.MaxNumber, c.LargeBudget, c.LargePerClient = 100_000, time.Hour, 100
	})

	digits := f.done(7)
	f.pending(8)
	if r := f.do(http.MethodGet, "/api/v1/factorial/7", ""); r.status != http.StatusOK { // now cached
		t.Fatalf("GET 7: %d", r.status)
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/metadata/7", ""); r.status != http.StatusOK {
		t.Fatalf("metadata 7: %d", r.status)
	}

	down := func(t *testing.T) {
		for _, c := range []struct{ method, target, body string }{
			{http.MethodGet, "/api/v1/factorial/8", ""},
			{http.MethodGet, "/api/v1/factorial/8?wait=5s", ""},
			{http.MethodGet, "/api/v1/factorial/metadata/8", ""},
			{http.MethodGet, "/api/v1/factorial/9", ""},
			{http.MethodPost, "/api/v1/factorial", `{"number": 9}`},
			{http.MethodPost, "/api/v1/factorial", `{"number": 50000}`},
		} {
			start := time.Now()
			r := f.do(c.method, c.target, c.body, "Content-Type", "application/json")
			took := time.Since(start)
			if d := problemOf(t, r, http.StatusServiceUnavailable); !strings.Contains(d, "database") {
				t.Errorf("%s %s: detail %q does not name the database", c.method, c.target, d)
			}
			if r.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", c.method, c.target)
			}
			if took > 2*time.Second {
				t.Errorf("%s %s: answered after %v, want within 2s", c.method, c.target, took)
			}
		}
		if r := f.do(http.MethodGet, "/api/v1/factorial/7", ""); r.status != http.StatusOK || !strings.Contains(r.body, digits) {
			t.Errorf("cached 7! not served with the database down: %d", r.status)
		}
		if r := f.do(http.MethodGet, "/api/v1/factorial/metadata/7", ""); r.status != http.StatusOK || !strings.Contains(r.body, `"attempts":1`) {
			t.Errorf("cached metadata of 7 not served with the database down: %d %s", r.status, r.body)
		}
	}
	back := func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := f.do(http.MethodGet, "/api/v1/factorial/8", "")
			if r.status == http.StatusAccepted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not back 20s after the database: %d %s", r.status, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("cut", func(t *testing.T) {
		proxy.Cut()
		down(t)
		proxy.Restore()
		back(t)
	})
	t.Run("black hole", func(t *testing.T) {
		proxy.BlackHole()
		down(t)
		proxy.Restore()
		back(t)
	})
	if r := f.do(http.MethodPost, "/api/v1/factorial", `{"number": 9}`, "Content-Type", "application/json"); r.status != http.StatusAccepted {
		t.Fatalf("POST after the database came back: %d %s", r.status, r.body)
	}
	if strings.Contains(f.do(http.MethodGet, "/metrics", "").body, `code="500"`) {
		t.Error("a 500 was answered")
	}
}
