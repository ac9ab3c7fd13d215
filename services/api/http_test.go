package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// fixture is the API over real HTTP (httptest.Server, so HEAD and connection handling are
// net/http's own), with its repository and store at hand to put results in place.
type fixture struct {
	t       testing.TB
	s       *Service
	srv     *httptest.Server
	records *database.Factorials
	store   *objectstore.Memory
	client  *http.Client
}

func newFixture(t testing.TB, opts ...func(*Config, *Deps)) *fixture {
	t.Helper()
	s, _ := newTestService(t, opts...)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	records, _ := s.records.(*database.Factorials) // a test that wraps them sets these itself
	store, _ := s.store.(*objectstore.Memory)
	return &fixture{
		t: t, s: s, srv: srv, records: records, store: store,
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
}

// digits is the decimal text of n!.
func digits(n int64) string { return new(big.Int).MulRange(1, n).String() }

// done puts n! in place as a calculator would (recorded, stored, completed) and returns its digits.
func (f *fixture) done(n int64) string {
	f.t.Helper()
	ctx := context.Background()
	text := digits(n)
	if n < 2 {
		text = "1"
	}
	now := time.Now()
	if _, _, err := f.records.Request(ctx, n, now); err != nil {
		f.t.Fatal(err)
	}
	if _, ok, err := f.records.Claim(ctx, n, "test", now, now); err != nil || !ok {
		f.t.Fatalf("claim %d: %v %v", n, ok, err)
	}
	key := fmt.Sprintf("factorials/%d.txt", n)
	if _, err := f.store.Put(ctx, key, strings.NewReader(text)); err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(text))
	_, err := f.records.Complete(ctx, n, "test", database.Result{
		Key: key, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)),
	}, now)
	if err != nil {
		f.t.Fatal(err)
	}
	return text
}

// pending records a request for n that no calculator takes.
func (f *fixture) pending(n int64) {
	f.t.Helper()
	if _, _, err := f.records.Request(context.Background(), n, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request; header is name, value pairs.
func (f *fixture) do(method, target, body string, header ...string) reply {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// problemOf checks that r is a problem+json document of the given status whose detail is one
// line, and returns the detail.
func problemOf(t *testing.T, r reply, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (body %q)", ct, r.body)
	}
	var p struct {
		Type, Title, Detail, Instance string
		Status                        int
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("not JSON: %v: %s", err, r.body)
	}
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("not a problem document of %d: %s", status, r.body)
	}
	if p.Detail == "" || strings.ContainsAny(p.Detail, "\n\r") || len(p.Detail) > 300 {
		t.Fatalf("detail must be one short line: %q", p.Detail)
	}
	if strings.ContainsFunc(p.Instance, func(r rune) bool { return r <= ' ' || r > '~' }) {
		t.Fatalf("instance %q is not a URI reference as the client sent it", p.Instance)
	}
	return p.Detail
}

// Every GET route answers HEAD with the GET's status and headers and no body.
func TestHeadOnEveryGetRoute(t *testing.T) {
	f := newFixture(t)
	f.done(20)
	paths := map[string]string{
		"/api/v1/factorial/:number":          "/api/v1/factorial/20",
		"/api/v1/factorial/metadata/:number": "/api/v1/factorial/metadata/20",
	}
	for _, r := range f.s.echo.Routes() {
		if r.Method != http.MethodGet {
			continue
		}
		path := r.Path
		if p, ok := paths[path]; ok {
			path = p
		}
		t.Run(path, func(t *testing.T) {
			get := reply{status: http.StatusOK, header: http.Header{"Content-Type": {mediaSSE}}}
			if path != "/api/v1/events" { // endless
				get = f.do(http.MethodGet, path, "")
			}
			head := f.do(http.MethodHead, path, "")
			if head.status != get.status {
				t.Fatalf("HEAD %d, GET %d", head.status, get.status)
			}
			if head.body != "" {
				t.Fatalf("HEAD has a body: %q", head.body)
			}
			if hc, gc := head.header.Get("Content-Type"), get.header.Get("Content-Type"); hc != gc {
				t.Fatalf("HEAD Content-Type %q, GET %q", hc, gc)
			}
		})
	}
	text := f.do(http.MethodHead, "/api/v1/factorial/20?format=text", "")
	if text.status != http.StatusOK || text.header.Get("Content-Length") != "19" || text.header.Get("ETag") == "" {
		t.Fatalf("HEAD of the text: %d %v", text.status, text.header)
	}
}

// The representation of GET /api/v1/factorial/{n} is chosen by Accept, q-values included,
// and says so with Vary; nothing acceptable is a 406.
func TestAcceptNegotiation(t *testing.T) {
	f := newFixture(t)
	want := f.done(30)
	for _, tt := range []struct {
		accept string
		media  string // "" for 406
	}{
		{"", mediaJSON},
		{"*/*", mediaJSON},
		{"application/json", mediaJSON},
		{"text/plain", mediaText},
		{"text/*", mediaText},
		{"application/json;q=0.1, text/plain", mediaText},
		{"text/plain;q=0.5, application/json;q=0.9", mediaJSON},
		{"text/plain, application/json", mediaJSON},
		{"text/html, */*;q=0.1", mediaJSON},
		{"text/*;q=0.2, */*;q=0.1", mediaText},
		{"image/png", ""},
		{"application/json;q=0, text/plain;q=0", ""},
		{"*/*;q=0", ""},
		{"text/plain;q=0, */*", mediaJSON},
	} {
		t.Run(tt.accept, func(t *testing.T) {
			r := f.do(http.MethodGet, "/api/v1/factorial/30", "", "Accept", tt.accept)
			if vary := r.header.Get("Vary"); vary != "Accept, Accept-Encoding" {
				t.Errorf("Vary %q, want Accept, Accept-Encoding", vary)
			}
			switch tt.media {
			case "":
				if d := problemOf(t, r, http.StatusNotAcceptable); !strings.Contains(d, "text/plain") {
					t.Errorf("406 detail does not say what to send: %q", d)
				}
			case mediaText:
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), mediaText) || r.body != want {
					t.Fatalf("want text: %d %q %.40q", r.status, r.header.Get("Content-Type"), r.body)
				}
			case mediaJSON:
				if r.status != http.StatusOK || r.header.Get("Content-Type") != mediaJSON || !strings.Contains(r.body, want) {
					t.Fatalf("want JSON: %d %q %.80q", r.status, r.header.Get("Content-Type"), r.body)
				}
			}
		})
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/metadata/30", "", "Accept", "text/plain"); r.status != http.StatusNotAcceptable {
		t.Errorf("metadata with Accept text/plain: %d", r.status)
	}
	if r := f.do(http.MethodGet, "/api/v1/events", "", "Accept", "application/json"); r.status != http.StatusNotAcceptable {
		t.Errorf("events with Accept application/json: %d", r.status)
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/30?format=text", "", "Accept", "application/json"); r.body != want {
		t.Errorf("format=text must win over Accept: %.40q", r.body)
	}
}

// Every error is problem+json with a one-line detail: unknown routes (under /swagger/ too),
// wrong methods, 406, 416, 412, bad queries.
func TestErrorsAreProblems(t *testing.T) {
	f := newFixture(t)
	f.done(25)
	for _, tt := range []struct {
		name, method, target string
		header               []string
		status               int
		detail               string
	}{
		{"unknown route", "GET", "/nothing", nil, 404, "openapi.yaml"},
		{"unknown swagger file", "GET", "/swagger/doc.json", nil, 404, "openapi.yaml"},
		{"unknown swagger file, HEAD", "HEAD", "/swagger/nothing.js", nil, 404, ""},
		{"wrong method", "PUT", "/api/v1/factorial/25", nil, 405, "Allow"},
		{"wrong method on the page", "POST", "/", nil, 405, "Allow"},
		{"not acceptable", "GET", "/api/v1/factorial/25", []string{"Accept", "image/png"}, 406, "application/json"},
		{"range not satisfiable", "GET", "/api/v1/factorial/25?format=text", []string{"Range", "bytes=500-600"}, 416, "Range"},
		{"precondition failed", "GET", "/api/v1/factorial/25?format=text", []string{"If-Match", `"nope"`}, 412, "If-Match"},
		{"bad wait", "GET", "/api/v1/factorial/25?wait=forever", nil, 400, "wait"},
		{"bad format", "GET", "/api/v1/factorial/25?format=xml", nil, 400, "json or text"},
		{"unknown query parameter", "GET", "/api/v1/factorial/25?color=red", nil, 400, "wait"},
		{"never requested", "GET", "/api/v1/factorial/26", nil, 404, "POST"},
		{"a control character in the path", "GET", "/api/v1/factorial/5%00%20x", nil, 400, "integer"},
		{"a Last-Event-ID that is not an id", "GET", "/api/v1/events", []string{"Last-Event-ID", "abc"}, 400, `Last-Event-ID "abc" is not`},
		{"a huge charset", "POST", "/api/v1/factorial", []string{"Content-Type", "application/json; charset=" + strings.Repeat("x", 5000)}, 415, "…"},
		{"compressed body", "POST", "/api/v1/factorial", []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, 415, "uncompressed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == http.MethodPost {
				body = `{"number": 25}`
			}
			r := f.do(tt.method, tt.target, body, tt.header...)
			if tt.method == http.MethodHead {
				if r.status != tt.status || r.header.Get("Content-Type") != mediaProblem {
					t.Fatalf("HEAD: %d %q", r.status, r.header.Get("Content-Type"))
				}
				return
			}
			if d := problemOf(t, r, tt.status); !strings.Contains(d, tt.detail) {
				t.Fatalf("detail %q does not mention %q", d, tt.detail)
			}
			if tt.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
			if tt.status == http.StatusRequestedRangeNotSatisfiable && r.header.Get("Content-Range") != "bytes */26" {
				t.Fatalf("416 Content-Range %q, want bytes */26", r.header.Get("Content-Range"))
			}
		})
	}
}

// Swagger UI 5 is served from the embedded assets and loads our document; no route of the
// API answers 500 to a plain GET or HEAD.
func TestSwaggerUIAndNoRouteAnswers500(t *testing.T) {
	f := newFixture(t)
	if r := f.do(http.MethodGet, "/swagger", ""); r.status != http.StatusOK || !strings.Contains(r.body, "swagger-ui-bundle.js") {
		t.Fatalf("/swagger does not lead to the UI: %d %.200s", r.status, r.body)
	}
	bundle := f.do(http.MethodGet, "/swagger/swagger-ui-bundle.js", "")
	if bundle.status != http.StatusOK || !strings.Contains(bundle.body, `PACKAGE_VERSION:"5.`) {
		t.Fatalf("swagger-ui-bundle.js is not Swagger UI 5: %d", bundle.status)
	}
	if ct := bundle.header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("bundle Content-Type %q", ct)
	}
	init := f.do(http.MethodGet, "/swagger/swagger-initializer.js", "")
	if !strings.Contains(init.body, "'/openapi.yaml'") || strings.Contains(init.body, "petstore") {
		t.Errorf("the initializer must load /openapi.yaml only: %s", init.body)
	}
	for _, r := range f.s.echo.Routes() {
		path := strings.NewReplacer(":number", "7", "*", "x").Replace(r.Path)
		if path == "/api/v1/events" {
			continue // endless
		}
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			got := f.do(m, path, "")
			if path == "/readyz" && got.status == http.StatusServiceUnavailable {
				continue // the event router is not running here: not ready is the truth
			}
			if got.status >= 500 {
				t.Errorf("%s %s: %d %s", m, path, got.status, got.body)
			}
		}
	}
}

// The web page and Swagger UI carry a Content-Security-Policy that forbids framing, and every
// response nosniff and no referrer.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	f.done(5)
	for _, path := range []string{"/", "/swagger/", "/swagger/index.html", "/api/v1/factorial/5", "/api/v1/factorial/5?format=text", "/nothing", "/openapi.yaml", "/readyz"} {
		r := f.do(http.MethodGet, path, "")
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if strings.Contains(csp, "script-src") && strings.Contains(csp, "unsafe") && strings.Contains(csp, "script-src 'self' 'unsafe") {
			t.Errorf("%s: CSP allows unsafe scripts: %q", path, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: nosniff %q, Referrer-Policy %q", path, r.header.Get("X-Content-Type-Options"), r.header.Get("Referrer-Policy"))
		}
	}
	page := f.do(http.MethodGet, "/", "")
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, "<style>") {
		t.Error("the page has inline script or style, which its CSP forbids")
	}
}

// logTo sends the service's log to w, at debug.
func logTo(w io.Writer) func(*Config, *Deps) {
	return func(_ *Config, d *Deps) {
		d.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// metric returns the value of the series of /metrics that starts with prefix, or "".
func (f *fixture) metric(prefix string) string {
	f.t.Helper()
	for line := range strings.SplitSeq(f.do(http.MethodGet, "/metrics", "").body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

// A client that leaves a ?wait or an event stream is neither logged as an error nor counted
// as a 5xx: the wait is counted as 499.
func TestClientGoingAwayIsNotAnError(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, logTo(&logs))
	f.pending(40)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/v1/factorial/40?wait=30s", nil)
	if _, err := f.client.Do(req); err == nil {
		t.Fatal("the wait answered before the client left")
	}
	sctx, scancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(sctx, http.MethodGet, f.srv.URL+"/api/v1/events", nil)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 16))
	scancel()
	resp.Body.Close()

	const waits = `factorial_http_requests_total{code="499",method="GET",route="/api/v1/factorial/:number"}`
	deadline := time.Now().Add(10 * time.Second)
	for f.metric(waits) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("the wait the client left is not counted as 499:\n%s", f.do(http.MethodGet, "/metrics", "").body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	const stream = `factorial_http_requests_total{code="200",method="GET",route="/api/v1/events"}`
	for f.metric(stream) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the event stream the client left did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(f.do(http.MethodGet, "/metrics", "").body, `code="5`) {
		t.Error("a client going away was counted as a 5xx")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client going away was logged as an error:\n%s", logs.String())
	}
}

// Ranges are bounded: a few, none overlapping, so no response is much larger than its object.
func TestRangesAreBounded(t *testing.T) {
	f := newFixture(t)
	text := f.done(300) // 615 digits
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", 2000), ",")
	spread := "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16"
	for _, tt := range []struct {
		name, rng string
		status    int
	}{
		{"one range", "bytes=10-19", http.StatusPartialContent},
		{"a suffix", "bytes=-5", http.StatusPartialContent},
		{"eight apart", "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14", http.StatusPartialContent},
		{"nine", spread, http.StatusRequestedRangeNotSatisfiable},
		{"thousands", many, http.StatusRequestedRangeNotSatisfiable},
		{"overlapping", "bytes=0-99,50-149", http.StatusRequestedRangeNotSatisfiable},
		{"the same twice", "bytes=5-9,5-9", http.StatusRequestedRangeNotSatisfiable},
		{"a suffix over a range", "bytes=600-609,-20", http.StatusRequestedRangeNotSatisfiable},
		{"beyond the end", "bytes=1000-", http.StatusRequestedRangeNotSatisfiable},
		{"an empty suffix", "bytes=-0", http.StatusRequestedRangeNotSatisfiable}, // not a 206 of "bytes 615-614/615"
		{"an empty suffix among others", "bytes=0-4,-00", http.StatusRequestedRangeNotSatisfiable},
		{"another unit is ignored", "items=0-5", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range []string{"/api/v1/factorial/300?format=text", "/swagger/swagger-ui.css"} {
				if target[1] == 's' && (tt.name == "beyond the end" || tt.name == "a suffix over a range") {
					continue // the stylesheet is larger: these are fine there
				}
				r := f.do(http.MethodGet, target, "", "Range", tt.rng)
				if tt.status == http.StatusRequestedRangeNotSatisfiable {
					problemOf(t, r, tt.status)
					continue
				}
				if r.status != tt.status {
					t.Fatalf("%s: %d %.100s", target, r.status, r.body)
				}
				if target[1] == 'a' && len(r.body) > len(text)+maxRanges*200 {
					t.Fatalf("%d bytes answered for an object of %d", len(r.body), len(text))
				}
			}
		})
	}
}

// Past HTTP_MAX_WAITERS a new ?wait gets a 503 with Retry-After, and past
// HTTP_MAX_EVENT_STREAMS a new event stream does, while everything else is still served.
func TestWaitersAndStreamsAreCapped(t *testing.T) {
	f := newFixture(t, func(c *Config, _ *Deps) { c.Limits = Limits{MaxWaiters: 2, MaxEventStreams: 2} })
	digits := f.done(10)
	f.pending(11)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold := func(target string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+target, nil)
		go func() {
			if resp, err := f.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range 2 {
		hold("/api/v1/factorial/11?wait=30s")
		hold("/api/v1/events")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.s.limits.waiters) < 2 || len(f.s.limits.streams) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("holding %d waiters and %d streams", len(f.s.limits.waiters), len(f.s.limits.streams))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, target := range []string{"/api/v1/factorial/11?wait=30s", "/api/v1/events"} {
		r := f.do(http.MethodGet, target, "")
		if d := problemOf(t, r, http.StatusServiceUnavailable); !strings.Contains(d, "limit") || r.header.Get("Retry-After") == "" {
			t.Errorf("%s past the cap: %q, Retry-After %q", target, d, r.header.Get("Retry-After"))
		}
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/10?wait=30s", ""); r.status != http.StatusOK || !strings.Contains(r.body, digits) {
		t.Errorf("a finished result with ?wait needs no place: %d", r.status)
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial/11", ""); r.status != http.StatusAccepted {
		t.Errorf("a plain GET while the waiters are full: %d", r.status)
	}
	cancel()
	for len(f.s.limits.waiters) > 0 || len(f.s.limits.streams) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("places not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingRecords counts reads of the database.
type countingRecords struct {
	*database.Factorials
	gets atomic.Int64
}

func (c *countingRecords) Get(ctx context.Context, n int64) (database.Record, error) {
	c.gets.Add(1)
	return c.Factorials.Get(ctx, n)
}

func (c *countingRecords) GetMany(ctx context.Context, ns []int64) ([]database.Record, error) {
	c.gets.Add(1)
	return c.Factorials.GetMany(ctx, ns)
}

// countingStore counts opens of stored objects.
type countingStore struct {
	*objectstore.Memory
	opens atomic.Int64
}

func (c *countingStore) Open(ctx context.Context, key string) (objectstore.Reader, error) {
	c.opens.Add(1)
	return c.Memory.Open(ctx, key)
}

// Once a finished result has been read, its JSON and its metadata are answered with no
// database query and no storage read, whatever its size up to the inline limit (results
// larger than CACHE_MAX_BYTES included).
func TestCachedReadsNeedNoDatabase(t *testing.T) {
	var records *countingRecords
	var store *countingStore
	f := newFixture(t, func(c *Config, d *Deps) {
		c.CacheMaxBytes = 1000 // 1000! (2,568 digits) is larger
		records = &countingRecords{Factorials: d.Records.(*database.Factorials)}
		store = &countingStore{Memory: d.Store.(*objectstore.Memory)}
		d.Records, d.Store = records, store
	})
	f.records, f.store = records.Factorials, store.Memory
	small, mid := f.done(100), f.done(1000)
	for _, n := range []int64{100, 1000} {
		f.do(http.MethodGet, fmt.Sprintf("/api/v1/factorial/%d", n), "")
		f.do(http.MethodGet, fmt.Sprintf("/api/v1/factorial/metadata/%d", n), "")
	}
	records.gets.Store(0)
	store.opens.Store(0)
	for range 10 {
		for n, digits := range map[int64]string{100: small, 1000: mid} {
			if r := f.do(http.MethodGet, fmt.Sprintf("/api/v1/factorial/%d", n), ""); r.status != http.StatusOK || !strings.Contains(r.body, digits) {
				t.Fatalf("GET %d: %d", n, r.status)
			}
			if r := f.do(http.MethodGet, fmt.Sprintf("/api/v1/factorial/metadata/%d", n), ""); r.status != http.StatusOK || !strings.Contains(r.body, `"attempts":1`) {
				t.Fatalf("metadata %d: %d %s", n, r.status, r.body)
			}
		}
	}
	if g, o := records.gets.Load(), store.opens.Load(); g != 0 || o != 0 {
		t.Fatalf("cached reads made %d database reads and %d storage reads", g, o)
	}
}

// At shutdown (EndStreams, registered with the server's Shutdown) a request waiting with ?wait
// is answered at once with what is known (202), so it does not hold the shutdown.
func TestWaitersAreAnsweredAtShutdown(t *testing.T) {
	f := newFixture(t)
	f.pending(60)
	got := make(chan reply, 1)
	go func() { got <- f.do(http.MethodGet, "/api/v1/factorial/60?wait=60s", "") }()
	for len(f.s.limits.waiters) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	f.s.EndStreams()
	select {
	case r := <-got:
		if r.status != http.StatusAccepted || r.header.Get("Retry-After") == "" {
			t.Fatalf("got %d %v", r.status, r.header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter still waits after the shutdown began")
	}
}

// A finished result's metadata says how long it took even when that is 0 ms (n! for small
// n takes well under a millisecond), as its item in the listing does: a done record without
// compute_ms would read as one whose timing was not recorded. A record not done has none.
func TestMetadataOfDoneCarriesComputeMS(t *testing.T) {
	f := newFixture(t)
	f.done(20) // recorded with compute_ms 0
	f.pending(21)
	for target, want := range map[string]bool{
		"/api/v1/factorial/metadata/20": true,
		"/api/v1/factorial/metadata/21": false,
	} {
		r := f.do(http.MethodGet, target, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, r.status, r.body)
		}
		if got := strings.Contains(r.body, `"compute_ms":0`); got != want {
			t.Errorf("GET %s: compute_ms present %v, want %v: %s", target, got, want, r.body)
		}
	}
	if r := f.do(http.MethodGet, "/api/v1/factorial?status=done", ""); !strings.Contains(r.body, `"compute_ms":0`) {
		t.Errorf("the listing of 20 has no compute_ms: %s", r.body)
	}
}
