package standalone_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/testenv"
	"github.com/factorial-service/factorial/services/standalone"
)

// Every reference vector up to 100000 goes the whole way: POST over HTTP, JetStream, the
// calculator, the object store, and back through GET as JSON and as text. The digits match
// GMP's, and the metadata checksum is the SHA-256 of what GET returns.
func TestVectorsThroughTheService(t *testing.T) {
	vectors := testenv.Vectors(t)
	s := start(t, testConfig(t, t.TempDir()), nil)
	var checked int
	for _, v := range vectors {
		if v.N > 100000 {
			continue
		}
		if r := s.post(v.N); r.status != http.StatusAccepted && r.status != http.StatusOK {
			t.Fatalf("POST %d: %d %s", v.N, r.status, r.body)
		}
	}
	for _, v := range vectors {
		if v.N > 100000 {
			continue
		}
		checked++
		res := s.waitDone(v.N)
		if res["status"] != "done" {
			t.Fatalf("%d!: %v", v.N, res)
		}
		if inline, ok := res["factorial_result"].(string); ok {
			if sha([]byte(inline)) != v.SHA256 {
				t.Errorf("%d!: inline digits differ from GMP's", v.N)
			}
		} else if v.Digits < 1<<20 {
			t.Errorf("%d!: %d digits should be inlined", v.N, v.Digits)
		}

		text := s.get(fmt.Sprintf("/api/v1/factorial/%d", v.N), "Accept", "text/plain")
		if text.status != http.StatusOK {
			t.Fatalf("GET %d as text: %d %s", v.N, text.status, text.body)
		}
		if int64(len(text.body)) != v.Digits || sha(text.body) != v.SHA256 || !bytes.HasPrefix(text.body, []byte(v.Prefix)) {
			t.Errorf("%d!: text has %d digits (want %d) and SHA-256 %s (want %s)", v.N, len(text.body), v.Digits, sha(text.body), v.SHA256)
		}
		meta := s.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", v.N)).json(t)
		if meta["checksum"] != sha(text.body) {
			t.Errorf("%d!: metadata checksum %v, SHA-256 of GET %s", v.N, meta["checksum"], sha(text.body))
		}
		if meta["s3_key"] == "" || meta["digits"] != float64(v.Digits) {
			t.Errorf("%d!: metadata %v", v.N, meta)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d vectors checked", checked)
	}
}

// The same n POSTed 50 times at once is computed once: the engine ran once for it.
func TestConcurrentRequestsComputeOnce(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	const n = 30000
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Go(func() { statuses <- s.post(n).status })
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("POST status %d", st)
		}
	}
	s.waitDone(n)
	if r := s.post(n); r.status != http.StatusOK || r.json(t)["status"] != "done" {
		t.Fatalf("POST of a done number: %d %s", r.status, r.body)
	}
	if got := s.engine.count(n); got != 1 {
		t.Fatalf("engine ran %d times for %d, want 1", got, n)
	}
	if meta := s.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", n)).json(t); meta["attempts"] != float64(1) {
		t.Fatalf("attempts %v, want 1", meta["attempts"])
	}
}

// Bad input gets a 4xx problem that names the problem and the allowed range; nothing reaches
// the stream, the database or the engine; no input produces a 5xx.
func TestBadInputIsRejected(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := start(t, cfg, nil)
	msgs := streamMessages(t, s.app)

	const json = "application/json"
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		detail                                string
	}{
		{"negative", "POST", "/api/v1/factorial", json, `{"number": -1}`, 422, "0 to 100000"},
		{"above MAX_NUMBER", "POST", "/api/v1/factorial", json, `{"number": 100001}`, 422, "0 to 100000"},
		{"fraction", "POST", "/api/v1/factorial", json, `{"number": 4.5}`, 400, "integer"},
		{"exponent", "POST", "/api/v1/factorial", json, `{"number": 1e3}`, 400, "0 to 100000"},
		{"integral float", "POST", "/api/v1/factorial", json, `{"number": 10.0}`, 400, "0 to 100000"},
		{"string", "POST", "/api/v1/factorial", json, `{"number": "abc"}`, 400, "0 to 100000"},
		{"numeric string", "POST", "/api/v1/factorial", json, `{"number": "5"}`, 400, "0 to 100000"},
		{"boolean", "POST", "/api/v1/factorial", json, `{"number": true}`, 400, "0 to 100000"},
		{"null", "POST", "/api/v1/factorial", json, `{"number": null}`, 400, "0 to 100000"},
		{"huge", "POST", "/api/v1/factorial", json, `{"number": 99999999999999999999}`, 422, "0 to 100000"},
		{"minus zero", "POST", "/api/v1/factorial", json, `{"number": -0}`, 400, "write 0"},
		{"duplicate key", "POST", "/api/v1/factorial", json, `{"number": 5, "number": 6}`, 400, "twice"},
		{"charset utf-16", "POST", "/api/v1/factorial", "application/json; charset=utf-16", `{"number": 5}`, 415, "UTF-8"},
		{"missing field", "POST", "/api/v1/factorial", json, `{}`, 400, "number"},
		{"unknown field", "POST", "/api/v1/factorial", json, `{"number": 5, "extra": 1}`, 400, "extra"},
		{"array", "POST", "/api/v1/factorial", json, `[5]`, 400, "0 to 100000"},
		{"malformed JSON", "POST", "/api/v1/factorial", json, `{"number": 5`, 400, "0 to 100000"},
		{"trailing data", "POST", "/api/v1/factorial", json, `{"number": 5} {"number": 6}`, 400, "0 to 100000"},
		{"empty body", "POST", "/api/v1/factorial", json, ``, 400, "empty"},
		{"wrong content type", "POST", "/api/v1/factorial", "text/plain", `{"number": 5}`, 415, "application/json"},
		{"no content type", "POST", "/api/v1/factorial", "", `{"number": 5}`, 415, "application/json"},
		{"body over 1 KiB", "POST", "/api/v1/factorial", json, `{"number": 5, "pad": "` + strings.Repeat("x", 2000) + `"}`, 413, "1024 bytes"},
		{"path not a number", "GET", "/api/v1/factorial/abc", "", "", 400, "0 to 100000"},
		{"path negative", "GET", "/api/v1/factorial/-1", "", "", 400, "0 to 100000"},
		{"path huge", "GET", "/api/v1/factorial/99999999999999999999", "", "", 400, "0 to 100000"},
		{"path above MAX_NUMBER", "GET", "/api/v1/factorial/100001", "", "", 404, "up to 100000"},
		{"path leading zero", "GET", "/api/v1/factorial/05", "", "", 400, "leading zeros"},
		{"path plus sign", "GET", "/api/v1/factorial/+5", "", "", 400, "without sign"},
		{"unknown query parameter", "GET", "/api/v1/factorial/5?x=1", "", "", 400, "wait"},
		{"path fraction", "GET", "/api/v1/factorial/4.5", "", "", 400, "0 to 100000"},
		{"metadata path not a number", "GET", "/api/v1/factorial/metadata/abc", "", "", 400, "0 to 100000"},
		{"metadata path negative", "GET", "/api/v1/factorial/metadata/-1", "", "", 400, "0 to 100000"},
		{"bad wait", "GET", "/api/v1/factorial/5?wait=forever", "", "", 400, "wait"},
		{"never requested", "GET", "/api/v1/factorial/5", "", "", 404, "never requested"},
		{"metadata never requested", "GET", "/api/v1/factorial/metadata/5", "", "", 404, "never requested"},
		{"unknown path", "GET", "/api/v1/nothing", "", "", 404, "openapi.yaml"},
		{"wrong method", "PUT", "/api/v1/factorial/5", "", "", 405, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.request(tt.method, tt.path, tt.contentType, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			p := r.json(t)
			if p["status"] != float64(tt.status) || p["title"] == "" {
				t.Fatalf("not a problem document: %s", r.body)
			}
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tt.detail) {
				t.Fatalf("detail %q does not mention %q", detail, tt.detail)
			}
		})
	}
	if got := streamMessages(t, s.app); got != msgs {
		t.Errorf("stream went from %d to %d messages: bad input was published", msgs, got)
	}
	if s.engine.total() != 0 {
		t.Errorf("engine ran %d times for bad input", s.engine.total())
	}
	for _, n := range []int64{5, 6, 10, 1000} {
		if r := s.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", n)); r.status != http.StatusNotFound {
			t.Errorf("%d was recorded: %d %s", n, r.status, r.body)
		}
	}
}

func streamMessages(t *testing.T, app *standalone.App) uint64 {
	t.Helper()
	nc, err := nats.Connect(app.NATSURL(), nats.UserInfo(natsbus.SubscriberUser, testSubscriberPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// Stopping the service and starting it again keeps every result and every pending request:
// a computation cut off by the stop is finished by the next run.
func TestRestartKeepsResultsAndPendingRequests(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	started := make(chan struct{}, 1)
	blocking := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		if n == 77 {
			started <- struct{}{}
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return newCountingEngine(nil).Write(ctx, n, w, progress)
	})
	first := start(t, cfg, blocking)
	first.post(1000)
	want := first.waitDone(1000)["factorial_result"]
	first.post(77)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("77! never started")
	}
	first.shutdown()

	second := start(t, cfg, nil)
	if got := second.waitDone(1000)["factorial_result"]; got != want {
		t.Fatal("1000! changed across a restart")
	}
	if res := second.waitDone(77); res["status"] != "done" || !strings.HasPrefix(res["factorial_result"].(string), "14518309202828586") {
		t.Fatalf("77! after restart: %v", res)
	}
	if second.engine.count(1000) != 0 {
		t.Error("1000! was computed again after the restart")
	}
	if meta := second.get("/api/v1/factorial/metadata/77").json(t); meta["attempts"] != float64(1) {
		t.Errorf("attempts %v after a shutdown cut 77! off, want 1: stopping is not a failed attempt", meta["attempts"])
	}
}

// While computing (a large-lane number: the small lane's work takes milliseconds and reports
// no progress), metadata shows status computing and a progress that moves, and the SSE stream
// carries progress events.
func TestProgressIsReported(t *testing.T) {
	release := make(chan struct{})
	engine := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		progress(0.25)
		select {
		case <-release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		progress(1)
		return newCountingEngine(nil).Write(ctx, n, w, nil)
	})
	s := start(t, testConfig(t, t.TempDir()), engine)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	sse := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			sse <- sc.Text()
		}
		close(sse)
	}()

	s.post(30000)
	m := s.waitFor(30000, "progress 0.25 while computing", func(m map[string]any) bool {
		return m["status"] == "computing" && m["progress"] == 0.25
	})
	if m["started_at"] == nil {
		t.Errorf("computing without started_at: %v", m)
	}
	if r := s.get("/api/v1/factorial/30000"); r.status != http.StatusAccepted || r.json(t)["progress"] != 0.25 {
		t.Errorf("GET while computing: %d %s", r.status, r.body)
	}
	close(release)
	s.waitDone(30000)

	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !(seen["event: requested"] && seen["event: progress"] && seen["event: computed"]) {
		select {
		case line, ok := <-sse:
			if !ok {
				t.Fatalf("event stream ended; saw %v", seen)
			}
			seen[line] = true
		case <-deadline:
			t.Fatalf("SSE events seen: %v", seen)
		}
	}
}

// A number whose computation keeps failing ends failed with the reason; POSTing it again
// retries it.
func TestFailedRequestsAreRetriedOnPost(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Calculator.MaxAttempts = 2
	var mu sync.Mutex
	broken := true
	engine := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return 0, errors.New("disk on fire")
		}
		return newCountingEngine(nil).Write(ctx, n, w, progress)
	})
	s := start(t, cfg, engine)
	s.post(42)
	res := s.waitDone(42)
	if res["status"] != "failed" || !strings.Contains(res["error"].(string), "gave up after 2 attempts; the last one failed: computing the digits failed") {
		t.Fatalf("want failed after 2 attempts, got %v", res)
	}
	if got := engine.count(42); got != 2 {
		t.Errorf("engine ran %d times, want 2", got)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	if r := s.post(42); r.status != http.StatusAccepted {
		t.Fatalf("retry POST: %d %s", r.status, r.body)
	}
	if res := s.waitDone(42); res["status"] != "done" {
		t.Fatalf("after retry: %v", res)
	}
}

// A request recorded in the database whose message never reached JetStream (a wiped
// stream, a publish lost) is republished by the reconciler and computed.
func TestReconcilerRecoversLostMessages(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Calculator.PendingAfter = 500 * time.Millisecond
	db, err := database.Open(context.Background(), dir+"/factorial.db")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, cfg, nil) // migrates
	if _, created, err := database.NewFactorials(db).Request(context.Background(), 321, time.Now().UTC()); err != nil || !created {
		t.Fatalf("record a request behind the API's back: %v", err)
	}
	_ = db.Close()
	if res := s.waitDone(321); res["status"] != "done" {
		t.Fatalf("321!: %v", res)
	}
}

// The digits as text: ETag, conditional GET, Range and gzip.
func TestTextDownload(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	s.post(1000)
	done := s.waitDone(1000)
	digits := done["factorial_result"].(string)

	full := s.get("/api/v1/factorial/1000?format=text")
	if full.status != http.StatusOK || string(full.body) != digits {
		t.Fatalf("text: %d, %d bytes", full.status, len(full.body))
	}
	etag := full.header.Get("ETag")
	if etag != `"`+sha(full.body)+`"` {
		t.Errorf("ETag %s, want the quoted SHA-256", etag)
	}
	if r := s.get("/api/v1/factorial/1000?format=text", "If-None-Match", etag); r.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.status)
	}
	part := s.get("/api/v1/factorial/1000", "Accept", "text/plain", "Range", "bytes=10-19")
	if part.status != http.StatusPartialContent || string(part.body) != digits[10:20] {
		t.Errorf("Range: %d %q, want %q", part.status, part.body, digits[10:20])
	}
	// Several ranges are a multipart/byteranges body, which the document must list.
	multi := s.get("/api/v1/factorial/1000?format=text", "Range", "bytes=0-1,10-19")
	if multi.status != http.StatusPartialContent || !strings.HasPrefix(multi.header.Get("Content-Type"), "multipart/byteranges;") {
		t.Errorf("two ranges: %d %q", multi.status, multi.header.Get("Content-Type"))
	}
	gz := s.get("/api/v1/factorial/1000?format=text", "Accept-Encoding", "gzip")
	if gz.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", gz.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != digits {
		t.Error("gzip body differs from the digits")
	}
}

// Large results are not inlined in JSON: result_url points to the text instead.
func TestLargeResultsAreNotInlined(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.API.InlineResultMaxBytes = 100
	s := start(t, cfg, nil)
	s.post(1000)
	res := s.waitDone(1000)
	if _, ok := res["factorial_result"]; ok {
		t.Fatal("a 2568-digit result was inlined with INLINE_RESULT_MAX_BYTES=100")
	}
	if r := s.get(res["result_url"].(string)); r.status != http.StatusOK || len(r.body) != 2568 {
		t.Fatalf("result_url: %d, %d bytes", r.status, len(r.body))
	}
}

func TestOperationalEndpoints(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	if ui := s.get("/swagger/swagger-initializer.js"); !strings.Contains(string(ui.body), `openapi.yaml`) || strings.Contains(string(ui.body), "doc.json") {
		t.Errorf("the Swagger UI must load /openapi.yaml and nothing else:\n%s", ui.body)
	}
	for _, tt := range []struct{ path, contains string }{
		{"/healthz", `"ok"`},
		{"/readyz", `"database":"ok"`},
		{"/metrics", "factorial_calculator_deliveries_total"},
		{"/openapi.yaml", "openapi: 3"},
		{"/swagger/index.html", "swagger-ui"},
		{"/", "<form"},
	} {
		r := s.get(tt.path)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), tt.contains) {
			t.Errorf("GET %s: %d, body lacks %q: %.300s", tt.path, r.status, tt.contains, r.body)
		}
	}
}

// An EMBEDDED_NATS_ADDR already in use stops the start with a line naming it.
func TestEmbeddedNATSAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.EmbeddedNATSAddr = ln.Addr().String()
	_, err = standalone.Start(context.Background(), cfg, standalone.Deps{Log: discard()})
	if err == nil || !strings.Contains(err.Error(), "EMBEDDED_NATS_ADDR") {
		t.Fatalf("want an error naming EMBEDDED_NATS_ADDR, got %v", err)
	}
}

// With EMBEDDED_NATS_ADDR=off the service works over in-process connections only.
func TestEmbeddedNATSOff(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.EmbeddedNATSAddr = "off"
	s := start(t, cfg, nil)
	if s.app.NATSURL() != "" {
		t.Errorf("NATS URL %q with listening off", s.app.NATSURL())
	}
	s.post(20)
	if res := s.waitDone(20); res["factorial_result"] != "2432902008176640000" {
		t.Fatalf("20!: %v", res)
	}
}

// With MAX_NUMBER raised to 10,000,000 the whole path works at the top: compute, store,
// verify, serve 65.7 MB of text.
func TestTenMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("computes 10,000,000! (about 3 s and 300 MB)")
	}
	const n, digits = 10_000_000, 65_657_060
	cfg := testConfig(t, t.TempDir())
	cfg.API.MaxNumber, cfg.Calculator.MaxNumber = n, n
	s := start(t, cfg, nil)
	if r := s.post(n); r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	res := s.waitDone(n)
	if _, inlined := res["factorial_result"]; inlined || res["digits"] != float64(digits) {
		t.Fatalf("10,000,000!: %v", res)
	}
	resp, err := http.Get(s.base + res["result_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	size, err := io.Copy(h, resp.Body)
	if err != nil || size != digits {
		t.Fatalf("text: %d bytes, %v", size, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); res["checksum"] != got {
		t.Fatalf("served text has SHA-256 %s, the record says %v", got, res["checksum"])
	}
}

// A NATS restart needs no service restart: the publisher, the calculator's pull consumer and
// the API's event follower all carry on once the server is back.
func TestSurvivesNATSRestart(t *testing.T) {
	storeDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	startNATS := func() *server.Server {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats not ready")
		}
		return ns
	}
	ns := startNATS()
	cfg := testConfig(t, t.TempDir())
	cfg.NATSURL = ns.ClientURL()
	s := start(t, cfg, nil)
	s.post(10)
	s.waitDone(10)

	ns.Shutdown()
	ns.WaitForShutdown()
	ns = startNATS()
	defer ns.Shutdown()

	// The first POST after the restart may race the reconnect; the record makes it durable
	// either way, and the reconciler or the publish gets it computed.
	if r := s.post(11); r.status != http.StatusAccepted {
		t.Fatalf("POST after restart: %d %s", r.status, r.body)
	}
	if res := s.waitDone(11); res["factorial_result"] != "39916800" {
		t.Fatalf("11! after a NATS restart: %v", res)
	}
	s.post(12)
	if res := s.waitDone(12); res["factorial_result"] != "479001600" {
		t.Fatalf("12! after a NATS restart: %v", res)
	}
}
