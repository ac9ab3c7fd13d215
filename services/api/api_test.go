package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	apispec "github.com/factorial-service/factorial/api-spec"
	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// newTestService builds the API over an in-process NATS server, SQLite, a memory store and
// a memory cache; opts may change the configuration and dependencies before it is built.
func newTestService(t testing.TB, opts ...func(*Config, *Deps)) (*Service, *server.Server) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dial := natsbus.NewDialer(ns.ClientURL(), log)
	nc, err := dial("provision")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := natsbus.Provision(context.Background(), js, natsbus.Layout{Replicas: 1, Consumers: map[events.Lane]natsbus.Consumer{
		events.LaneSmall: {AckWait: 30 * time.Second, MaxAckPending: 1}, events.LaneLarge: {AckWait: 30 * time.Second, MaxAckPending: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{MaxNumber: 1000, InlineResultMaxBytes: 1 << 20, CacheMaxBytes: 1 << 16, CacheTTL: time.Hour, LocalCacheBytes: 1 << 26}
	deps := Deps{
		Log: log, Dial: dial, Records: database.NewFactorials(dbtest.SQLite(t)), Store: objectstore.NewMemory(),
		Cache: cache.NewMemory(10), Registry: prometheus.NewRegistry(),
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	s, err := New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.conns.Close)
	return s, ns
}

// loadSpec parses and validates api-spec/openapi.yaml.
func loadSpec(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPI)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(ctx)
}

// Every operation of openapi.yaml has a route and every route of the API is in openapi.yaml.
func TestRoutesMatchOpenAPI(t *testing.T) {
	s, _ := newTestService(t)
	doc, err := loadSpec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{(\w+)\}`)
	var inSpec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec = append(inSpec, method+" "+param.ReplaceAllString(path, ":$1"))
		}
	}
	var inCode []string
	heads := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Path == "/" || r.Path == "/openapi.yaml" || strings.HasPrefix(r.Path, "/swagger") || strings.HasPrefix(r.Path, "/assets/") {
			continue // the document itself, its UI and the web page are not API operations
		}
		if r.Method == http.MethodHead {
			heads[r.Path] = true // not in the document, which says every GET also answers HEAD
			continue
		}
		inCode = append(inCode, r.Method+" "+r.Path)
	}
	for _, r := range s.echo.Routes() {
		if r.Method == http.MethodGet && !heads[r.Path] && !strings.HasPrefix(r.Path, "/swagger") && r.Path != "/" && r.Path != "/openapi.yaml" && !strings.HasPrefix(r.Path, "/assets/") {
			t.Errorf("GET %s has no HEAD", r.Path)
		}
	}
	slices.Sort(inSpec)
	slices.Sort(inCode)
	if !slices.Equal(inSpec, inCode) {
		t.Fatalf("routes and openapi.yaml differ:\nspec: %v\ncode: %v", inSpec, inCode)
	}
}

// A POST is accepted (the record is the durable copy) even when NATS is down, within
// 100 ms: the publish happens in the background and the reconciler covers it.
func TestPostIsDurableWithNATSDown(t *testing.T) {
	s, ns := newTestService(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ns.Shutdown()
	for n := range int64(20) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/factorial", strings.NewReader(fmt.Sprintf(`{"number": %d}`, n)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		s.Handler().ServeHTTP(rec, req)
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("POST %d with NATS down took %v, want at most 100ms", n, took)
		}
		if rec.Code != http.StatusAccepted {
			t.Fatalf("POST with NATS down: %d %s", rec.Code, rec.Body)
		}
	}
	r, err := s.records.Get(context.Background(), 12)
	if err != nil || r.Status != database.StatusPending {
		t.Fatalf("record: %+v %v", r, err)
	}
	// A cancel is recorded too; its event, which cannot be published, is counted.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/api/v1/factorial/12", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("DELETE with NATS down: %d %s", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(s.metrics.publishFailures.WithLabelValues("cancelled")); got != 1 {
		t.Errorf("factorial_api_publish_failures_total{event=cancelled} = %v, want 1", got)
	}
}
