package standalone_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	apispec "github.com/factorial-service/factorial/api-spec"
	"github.com/factorial-service/factorial/platform/config"
	"github.com/factorial-service/factorial/services/calculator"
	"github.com/factorial-service/factorial/services/calculator/factorial"
	"github.com/factorial-service/factorial/services/standalone"
)

// service is a standalone service started in-process for one test, over real HTTP, an
// embedded NATS server listening on a free port, SQLite and local disk under dir.
type service struct {
	t      testing.TB
	app    *standalone.App
	base   string
	stop   context.CancelFunc
	engine *countingEngine
	once   sync.Once
}

// testSubscriberPassword is the password of the embedded NATS's read-only user in tests.
const testSubscriberPassword = "test-subscriber"

// testConfig is the default configuration with timings shortened for tests.
func testConfig(t testing.TB, dir string) standalone.Config {
	t.Helper()
	var cfg standalone.Config
	err := config.Load([]string{
		"DATA_DIR=" + dir, "HTTP_ADDR=127.0.0.1:0", "EMBEDDED_NATS_ADDR=127.0.0.1:0",
		"RATE_LIMIT_RPS=0", // tests ask as many clients at once, from one address; the limit has tests of its own
		"EMBEDDED_NATS_SUBSCRIBER_PASSWORD=" + testSubscriberPassword,
	}, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Calculator.AckWait = 3 * time.Second
	cfg.Calculator.Lease = time.Second
	cfg.Calculator.RetryDelay = 100 * time.Millisecond
	cfg.Calculator.ProgressEvery = 100 * time.Millisecond
	cfg.Calculator.ReconcileEvery = 200 * time.Millisecond
	cfg.Calculator.PendingAfter = 3 * time.Second
	return cfg
}

func start(t testing.TB, cfg standalone.Config, engine *countingEngine) *service {
	t.Helper()
	if engine == nil {
		engine = newCountingEngine(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := standalone.Start(ctx, cfg, standalone.Deps{Log: log, Engine: engine})
	if err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	s := &service{t: t, app: app, base: "http://" + app.Addr().String(), stop: cancel, engine: engine}
	t.Cleanup(s.shutdown)
	return s
}

// shutdownTimeout bounds a service's shutdown in a test (its requests in flight get
// serve.ShutdownTimeout): a service that never stops fails its test with the goroutines that
// hold it, instead of hanging the run to go test's timeout.
const shutdownTimeout = time.Minute

// shutdown stops the service and waits for it; safe to call twice.
func (s *service) shutdown() {
	s.once.Do(func() {
		s.stop()
		stopped := make(chan error, 1)
		go func() { stopped <- s.app.Wait() }()
		select {
		case err := <-stopped:
			if err != nil {
				s.t.Errorf("service stopped with: %v", err)
			}
		case <-time.After(shutdownTimeout):
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			s.t.Errorf("the service did not stop within %v of its cancel; goroutines:\n%s", shutdownTimeout, stacks.String())
		}
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// countingEngine counts calls per n and can be told to run another engine.
type countingEngine struct {
	mu    sync.Mutex
	calls map[uint64]int
	write calculator.EngineFunc
}

func newCountingEngine(write calculator.EngineFunc) *countingEngine {
	if write == nil {
		write = factorial.Write
	}
	return &countingEngine{calls: map[uint64]int{}, write: write}
}

func (e *countingEngine) Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
	e.mu.Lock()
	e.calls[n]++
	write := e.write
	e.mu.Unlock()
	return write(ctx, n, w, progress)
}

func (e *countingEngine) count(n uint64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[n]
}

func (e *countingEngine) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	sum := 0
	for _, c := range e.calls {
		sum += c
	}
	return sum
}

// rawTransport does no transparent gzip, so tests see exactly what was sent.
var rawTransport = &http.Transport{DisableCompression: true}

// response is an HTTP response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// requestTimeout bounds one request of a test (the longest ?wait a test uses is 30 s): a
// request the service never answers fails its test, naming it, instead of hanging the run.
const requestTimeout = 2 * time.Minute

func (s *service) do(req *http.Request) response {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := rawTransport.RoundTrip(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	checkContract(s.t, req, r)
	return r
}

func (s *service) request(method, path, contentType, body string, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.do(req)
}

func (s *service) post(n int64) response {
	s.t.Helper()
	return s.request(http.MethodPost, "/api/v1/factorial", "application/json", fmt.Sprintf(`{"number": %d}`, n))
}

func (s *service) get(path string, header ...string) response {
	s.t.Helper()
	return s.request(http.MethodGet, path, "", "", header...)
}

// waitDone waits (with ?wait) until n is done or failed and returns its JSON.
func (s *service) waitDone(n int64) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := s.get(fmt.Sprintf("/api/v1/factorial/%d?wait=10s", n))
		if r.status == http.StatusOK {
			return r.json(s.t)
		}
		if r.status != http.StatusAccepted {
			s.t.Fatalf("GET %d: %d %s", n, r.status, r.body)
		}
	}
	s.t.Fatalf("%d! not done after 60s", n)
	return nil
}

// waitFor polls the metadata of n until cond holds.
func (s *service) waitFor(n int64, what string, cond func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r := s.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", n))
		if r.status == http.StatusOK {
			if m := r.json(s.t); cond(m) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%d: %s did not happen within 20s", n, what)
	return nil
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// checkContract validates a response to an /api/ request against openapi.yaml, so the
// tests fail if the handlers and the document drift apart.
func checkContract(t testing.TB, req *http.Request, r response) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/api/") || req.URL.Path == "/api/v1/events" {
		return
	}
	specOnce.Do(func() {
		// Several ranges: the validator reads the body as the string the document says it is.
		openapi3filter.RegisterBodyDecoder("multipart/byteranges", openapi3filter.FileBodyDecoder)
		doc, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPI)
		if err != nil {
			specErr = err
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	route, params, err := specRouter.FindRoute(req)
	if err != nil {
		return // not an operation of the document; the API's drift test covers routes
	}
	if r.header.Get("Content-Encoding") == "gzip" {
		return // the validator cannot read compressed bodies
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.status, Header: r.header, Body: io.NopCloser(strings.NewReader(string(r.body))),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %.300s", req.Method, req.URL, r.status, err, r.body)
	}
	// The validator checks the headers the document lists, not those it leaves out: the ones
	// a client acts on must be listed where they are sent, or a generated client never sees them.
	if resp := route.Operation.Responses.Status(r.status); resp != nil && resp.Value != nil {
		for _, name := range []string{"Location", "Retry-After", "RateLimit", "RateLimit-Policy", "ETag", "Content-Range", "WWW-Authenticate"} {
			if r.header.Get(name) == "" {
				continue
			}
			listed := false
			for h := range resp.Value.Headers {
				listed = listed || strings.EqualFold(h, name)
			}
			if !listed {
				t.Errorf("%s %s → %d sends %s, which openapi.yaml does not list for it", req.Method, req.URL, r.status, name)
			}
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
