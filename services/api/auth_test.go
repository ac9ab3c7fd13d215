package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/config"
)

func keyLine(id, key string) string {
	sum := sha256.Sum256([]byte(key))
	return id + ":" + hex.EncodeToString(sum[:])
}

func keysFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadKeys(t *testing.T) {
	const key = "k3y-0f-4l1ce-with-enough-entropy-0123456789"
	keys, err := loadKeys(keysFile(t, "# who may ask", "", keyLine("alice", key), keyLine("bob", "b")+":read"))
	if err != nil {
		t.Fatal(err)
	}
	if k := keys[sha256.Sum256([]byte(key))]; k.id != "alice" || k.readOnly {
		t.Fatalf("alice: %+v", k)
	}
	if k := keys[sha256.Sum256([]byte("b"))]; k.id != "bob" || !k.readOnly {
		t.Fatalf("bob: %+v", k)
	}
	for _, tt := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"a key instead of its hash", []string{keyLine("a", "x"), "carol:" + key}, "line 2"},
		{"no id", []string{":" + strings.Repeat("a", 64)}, "line 1"},
		{"an unknown scope", []string{keyLine("a", "x") + ":admin"}, "line 1"},
		{"the same key twice", []string{keyLine("a", "x"), keyLine("b", "x")}, "line 2 repeats"},
		{"no key at all", []string{"# nothing"}, "no key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadKeys(keysFile(t, tt.lines...))
			if err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming API_KEYS_FILE and %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatalf("the error shows what the file holds: %v", err)
			}
		})
	}
	if _, err := loadKeys(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// With keys on, POST and DELETE need a known key that may write (401, 403 otherwise, as
// problems with a WWW-Authenticate challenge); reads need one only with API_AUTH_READS; keys
// never reach the log.
func TestAPIKeys(t *testing.T) {
	const writer, reader = "wr1ter-key-0123456789abcdef0123456789abcdef", "r3ader-key-0123456789abcdef0123456789abcdef"
	file := keysFile(t, keyLine("ops", writer), keyLine("dash", reader)+":read")
	post := func(f *fixture, n int, header ...string) reply {
		return f.do(http.MethodPost, "/api/v1/factorial", fmt.Sprintf(`{"number": %d}`, n),
			append([]string{"Content-Type", "application/json"}, header...)...)
	}
	for _, reads := range []bool{false, true} {
		t.Run(fmt.Sprintf("API_AUTH_READS=%v", reads), func(t *testing.T) {
			var logs syncBuffer
			f := newFixture(t, logTo(&logs), func(c *Config, _ *Deps) { c.Auth = Auth{KeysFile: file, AuthReads: reads} })
			f.done(5)
			r := post(f, 6)
			if problemOf(t, r, http.StatusUnauthorized); !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", r.header)
			}
			if r := post(f, 6, "Authorization", "Bearer not-a-key"); problemOf(t, r, http.StatusUnauthorized) == "" ||
				!strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("unknown key: %v", r.header)
			}
			if r := post(f, 6, "Authorization", "Basic "+writer); r.status != http.StatusUnauthorized {
				t.Errorf("a key not sent as Bearer: %d", r.status)
			}
			problemOf(t, post(f, 6, "Authorization", "Bearer "+reader), http.StatusForbidden)
			if r := post(f, 6, "Authorization", "Bearer "+writer); r.status != http.StatusAccepted {
				t.Fatalf("POST with the writer's key: %d %s", r.status, r.body)
			}
			// A DELETE (a cancel) is a write too.
			problemOf(t, f.do(http.MethodDelete, "/api/v1/factorial/6", ""), http.StatusUnauthorized)
			problemOf(t, f.do(http.MethodDelete, "/api/v1/factorial/6", "", "Authorization", "Bearer "+reader), http.StatusForbidden)
			if r := f.do(http.MethodDelete, "/api/v1/factorial/6", "", "Authorization", "Bearer "+writer); r.status != http.StatusOK {
				t.Fatalf("DELETE with the writer's key: %d %s", r.status, r.body)
			}
			for _, path := range []string{"/api/v1/factorial/5", "/api/v1/factorial/metadata/5"} {
				r := f.do(http.MethodGet, path, "")
				if reads {
					problemOf(t, r, http.StatusUnauthorized)
				} else if r.status != http.StatusOK {
					t.Errorf("GET %s without a key, reads open: %d", path, r.status)
				}
				if r := f.do(http.MethodGet, path, "", "Authorization", "Bearer "+reader); r.status != http.StatusOK {
					t.Errorf("GET %s with the reader's key: %d", path, r.status)
				}
			}
			for _, open := range []string{"/", "/openapi.yaml", "/healthz", "/swagger/"} {
				if r := f.do(http.MethodGet, open, ""); r.status != http.StatusOK {
					t.Errorf("%s needs no key: %d", open, r.status)
				}
			}
			if strings.Contains(logs.String(), writer) || strings.Contains(logs.String(), reader) {
				t.Errorf("a key reached the log:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "client=key:ops") {
				t.Errorf("the log does not say which key asked:\n%s", logs.String())
			}
		})
	}
}

// The token bucket limits each client on its own: past its burst a client gets 429 with
// Retry-After and the RateLimit headers, while another client is still served, by key where
// keys are on and by address where they are not.
func TestRateLimitPerClient(t *testing.T) {
	const a, b = "client-a-key-0123456789abcdef0123456789abcdef", "client-b-key-0123456789abcdef0123456789abcdef"
	limited := func(c *Config, _ *Deps) { c.RateLimit = RateLimit{RPS: 0.5, Burst: 2} }
	exhaust := func(t *testing.T, f *fixture, do func(n int) reply) {
		t.Helper()
		for n := range 2 {
			if r := do(n); r.status != http.StatusAccepted || r.header.Get("RateLimit-Policy") != `"post";q=2;w=4` {
				t.Fatalf("POST %d within the burst: %d %v", n, r.status, r.header)
			}
		}
		r := do(2)
		problemOf(t, r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") != "2" || r.header.Get("RateLimit") != `"post";r=0;t=4` {
			t.Fatalf("429 headers: Retry-After %q, RateLimit %q", r.header.Get("Retry-After"), r.header.Get("RateLimit"))
		}
	}
	body := func(n int) string { return fmt.Sprintf(`{"number": %d}`, n) }

	t.Run("by key", func(t *testing.T) {
		f := newFixture(t, limited, func(c *Config, _ *Deps) {
			c.Auth = Auth{KeysFile: keysFile(t, keyLine("a", a), keyLine("b", b))}
		})
		exhaust(t, f, func(n int) reply {
			return f.do(http.MethodPost, "/api/v1/factorial", body(n), "Content-Type", "application/json", "Authorization", "Bearer "+a)
		})
		if r := f.do(http.MethodPost, "/api/v1/factorial", body(50), "Content-Type", "application/json", "Authorization", "Bearer "+b); r.status != http.StatusAccepted {
			t.Fatalf("the second client is not served: %d %s", r.status, r.body)
		}
	})
	t.Run("by address", func(t *testing.T) {
		f := newFixture(t, limited)
		exhaust(t, f, func(n int) reply {
			return f.do(http.MethodPost, "/api/v1/factorial", body(n), "Content-Type", "application/json")
		})
		// Another address: 127.0.0.2 is loopback too.
		other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
		}).DialContext}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, f.srv.URL+"/api/v1/factorial", strings.NewReader(body(51)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := other.Do(req)
		if err != nil {
			t.Skipf("cannot send from 127.0.0.2 here: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("another address is not served: %d", resp.StatusCode)
		}
		if r := f.do(http.MethodGet, "/api/v1/factorial/0", ""); r.status != http.StatusAccepted {
			t.Fatalf("reads are not limited: %d", r.status)
		}
	})
}

// The limiter keeps at most maxLimiters buckets, however many clients come.
func TestRateLimiterIsBounded(t *testing.T) {
	l := newRateLimiter(RateLimit{RPS: 1, Burst: 1})
	for i := range maxLimiters + 500 {
		l.bucket(fmt.Sprint("client-", i))
	}
	if n := l.buckets.Len(); n > maxLimiters {
		t.Fatalf("%d buckets kept", n)
	}
	if newRateLimiter(RateLimit{RPS: 0}) != nil {
		t.Fatal("RATE_LIMIT_RPS=0 must turn the limit off")
	}
}

// The rate limit is on unless turned off, with a generous bucket.
func TestRateLimitIsOnByDefault(t *testing.T) {
	var cfg Config
	if err := config.Load(nil, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit.RPS <= 0 || cfg.RateLimit.Burst < 100 {
		t.Fatalf("default %+v", cfg.RateLimit)
	}
	if err := config.Load([]string{"RATE_LIMIT_RPS=-1"}, &cfg); err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_RPS") {
		t.Fatalf("RATE_LIMIT_RPS=-1: %v", err)
	}
}

// An IPv6 client is its /64, the least a site or a home is given: one address a request
// would let whoever holds a /64 (2^64 addresses) pass the rate limit and the per-client cap
// of large requests, and push every other client's bucket out of the limiter.
func TestIPv6ClientIsItsPrefix(t *testing.T) {
	id := func(remote string) string {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/factorial", nil)
		r.RemoteAddr = remote
		return clientID(r)
	}
	if a, b := id("[2001:db8:1:2:aaaa::1]:5000"), id("[2001:db8:1:2:bbbb:cccc:dddd:9]:6000"); a != b {
		t.Errorf("two addresses of one /64 are two clients: %q, %q", a, b)
	}
	if a, b := id("[2001:db8:1:2::1]:5000"), id("[2001:db8:1:3::1]:5000"); a == b {
		t.Errorf("two /64s are one client: %q", a)
	}
	for remote, want := range map[string]string{
		"192.0.2.1:5000":          "192.0.2.1",
		"[::ffff:192.0.2.1]:5000": "192.0.2.1",
		"[2001:db8:1:2::1]:5000":  "2001:db8:1:2::/64",
		"pipe":                    "pipe",
	} {
		if got := id(remote); got != want {
			t.Errorf("client of %q: %q, want %q", remote, got, want)
		}
	}
}
