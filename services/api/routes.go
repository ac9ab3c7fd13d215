package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/platform/health"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// readMethods are the methods of every read route: HEAD is GET without the body.
var readMethods = []string{http.MethodGet, http.MethodHead}

// routes builds the echo instance: the front door, the API, the document with a Swagger UI,
// the web page and the probes.
func (s *Service) routes(reg *prometheus.Registry, checks []health.Check) (*echo.Echo, error) {
	files, err := staticFiles()
	if err != nil {
		return nil, err
	}
	keys, err := loadKeys(s.cfg.Auth.KeysFile)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.log)
	metrics := newHTTPMetrics(reg)
	e.Use(s.front(metrics, keys, newRateLimiter(s.cfg.RateLimit))) // the only one: see front

	v1 := e.Group("/api/v1")
	v1.POST("/factorial", s.postFactorial)
	v1.Match(readMethods, "/factorial", s.listFactorials)
	v1.DELETE("/factorial/:number", s.cancelFactorial)
	v1.Match(readMethods, "/factorial/:number", s.getFactorial)
	v1.Match(readMethods, "/factorial/metadata/:number", s.getMetadata)
	v1.Match(readMethods, "/events", s.streamEvents)

	mountStatic(e, files)
	health.Mount(e, reg, s.log, checks...)
	metrics.track(e.Routes())
	return e, nil
}

// Header values shared by every response (never modified, so one slice serves all).
var (
	hdrNosniff  = []string{"nosniff"}
	hdrReferrer = []string{"no-referrer"}
	hdrCSPNone  = []string{cspNone}
	hdrVary     = []string{"Accept, Accept-Encoding"}
)

// front is the one middleware every request goes through. It names the request
// (X-Request-Id), sets the security headers (nosniff, no referrer, and a
// Content-Security-Policy that allows nothing, which the page and Swagger UI replace with
// theirs), checks the API key and the client's rate on the API, turns a panic into a 500,
// and counts and logs the answer.
//
// It must be the only middleware of the echo instance (routes' e.Use): echo wraps the
// route's handler in its middleware anew on each request, which costs an allocation per
// middleware and request, so front hands back one handler built here, which calls the
// route's handler itself (c.Handler(), which is what echo passes as next when front is the
// only one). The request's context gets its id here (for the log lines and the NATS
// headers of what it does), except on the two reads a process answers from memory, where
// that would copy the request for nothing: those handlers call withRequestID once they go
// further (see lazyID).
func (s *Service) front(m *httpMetrics, keys keyring, limiter *rateLimiter) echo.MiddlewareFunc {
	reads := s.cfg.Auth.AuthReads
	serve := func(c echo.Context) (err error) {
		start := time.Now()
		req := c.Request()
		h := c.Response().Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["Referrer-Policy"] = hdrReferrer
		h["Content-Security-Policy"] = hdrCSPNone
		if id := req.Header[echo.HeaderXRequestID]; len(id) == 1 && validRequestID(id[0]) {
			h[echo.HeaderXRequestID] = id // the client named it: share it
		} else {
			h[echo.HeaderXRequestID] = newRequestID()
		}
		if !lazyID(req.Method, c.Path()) {
			withRequestID(c)
		}
		defer s.settle(c, m, start, &err)
		if err := authenticate(c, keys, reads); err != nil {
			return err
		}
		if err := limiter.admit(c); err != nil {
			return err
		}
		return c.Handler()(c)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return serve }
}

// lazyID reports whether the request's handler puts its id in its context itself
// (withRequestID), after answering from the process's memory if it can: GET and HEAD of a
// result and of its metadata.
func lazyID(method, route string) bool {
	return (method == http.MethodGet || method == http.MethodHead) && (route == routeFactorial || route == routeMetadata)
}

// withRequestID returns the request's context, carrying its id (the X-Request-Id front
// answers with) so that the log lines and NATS messages about it carry it too; the first
// call puts it there.
func withRequestID(c echo.Context) context.Context {
	req := c.Request()
	ctx := req.Context()
	if telemetry.RequestID(ctx) != "" {
		return ctx
	}
	ctx = telemetry.WithRequestID(ctx, requestID(c))
	c.SetRequest(req.WithContext(ctx))
	return ctx
}

// settle ends every request (deferred by front): a panic becomes a 500 (but net/http's
// ErrAbortHandler, which cuts the connection, goes on), an error is answered, and the
// answer is counted and logged. What it settles is not passed back to echo.
func (s *Service) settle(c echo.Context, m *httpMetrics, start time.Time, errp *error) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p) // net/http cuts the connection: nothing to count or answer
		}
		*errp = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
	}
	if *errp != nil {
		c.Error(*errp) // answer now, so the status is what is counted and logged
	}
	s.finish(c, m, start)
	*errp = nil
}

// finish counts the answer and logs it: at debug, or at warn for a server error (a 500 is
// also logged in full by the error handler). Logging every request at info would cost more
// than serving a cached result. A client that went away is counted as 499.
func (s *Service) finish(c echo.Context, m *httpMetrics, start time.Time) {
	took := time.Since(start)
	req := c.Request()
	status := c.Response().Status
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	if m.observeWaiting(req.Method, route, req.URL.RawQuery, took) {
		m.requests.WithLabelValues(req.Method, route, statusText(status)).Inc()
	} else {
		m.observe(req.Method, route, status, took)
	}
	telemetry.NameSpan(req.Context(), req.Method, route)
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	if s.log.Enabled(req.Context(), level) {
		s.log.Log(req.Context(), level, "http", "method", req.Method, "uri", req.URL.Path, "status", status,
			"latency_ms", took.Milliseconds(), "request_id", requestID(c), "client", clientID(req))
	}
}

// httpMetrics counts requests and their latency by route (the pattern, not the URL, so the
// number of series stays bounded). Requests that wait by design, GETs with ?wait and event
// streams, have histograms of their own (up to a minute, and hours), so they do not drown
// the latency of the others.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	waits    prometheus.Histogram
	streams  prometheus.Histogram
	routes   map[string]*routeSeries // see track
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_http_requests_total", Help: "HTTP requests by method, route and status (499: the client went away).",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "factorial_http_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		waits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "factorial_http_wait_seconds", Help: "How long GET /api/v1/factorial/{number}?wait= requests were held (not in factorial_http_request_seconds).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60},
		}),
		streams: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "factorial_http_event_stream_seconds", Help: "How long GET /api/v1/events streams stayed open (not in factorial_http_request_seconds).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 s to 18 h
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.waits, m.streams)
	return m
}

// Routes the HTTP layer treats apart: the first and the last wait by design (observeWaiting),
// the first two may be answered from memory (lazyID).
const (
	routeFactorial = "/api/v1/factorial/:number"
	routeMetadata  = "/api/v1/factorial/metadata/:number"
	routeEvents    = "/api/v1/events"
)

// observeWaiting observes a request that waits by design in its own histogram, and reports
// whether it was one.
func (m *httpMetrics) observeWaiting(method, route, rawQuery string, took time.Duration) bool {
	switch {
	case method != http.MethodGet:
		return false
	case route == routeEvents:
		m.streams.Observe(took.Seconds())
	case route == routeFactorial && strings.Contains(rawQuery, "wait="):
		m.waits.Observe(took.Seconds())
	default:
		return false
	}
	return true
}

func (m *httpMetrics) observe(method, route string, status int, took time.Duration) {
	mi := methodIndex(method)
	if r := m.routes[route]; r != nil {
		requests, latency := r[mi].get(m, methodLabels[mi], route, status)
		requests.Inc()
		latency.Observe(took.Seconds())
		return
	}
	m.requests.WithLabelValues(methodLabels[mi], route, statusText(status)).Inc()
	m.latency.WithLabelValues(methodLabels[mi], route).Observe(took.Seconds())
}

// methodLabels are the method labels of the request metrics: any client can send any
// method, so the others are counted as "other" and the series stay bounded.
var methodLabels = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete, "other"}

func methodIndex(method string) int {
	switch method {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodDelete:
		return 3
	}
	return 4
}

// track makes the table of series of the given routes (and of requests no route matched),
// which observe then finds without prometheus's hashing and checking of the label values on
// each request. Called once the routes are registered, before serving: the table is only
// read afterwards.
func (m *httpMetrics) track(routes []*echo.Route) {
	m.routes = map[string]*routeSeries{"unmatched": new(routeSeries)}
	for _, r := range routes {
		if m.routes[r.Path] == nil {
			m.routes[r.Path] = new(routeSeries)
		}
	}
}

// routeSeries are the series of one route, by method (methodLabels).
type routeSeries [len(methodLabels)]methodSeries

// methodSeries holds the series of one route and method: the latency and the count of each
// status served so far. They are made on first use (so /metrics shows what was served, as
// with WithLabelValues), then read without a lock.
type methodSeries struct {
	mu  sync.Mutex // held while adding
	set atomic.Pointer[seriesSet]
}

// seriesSet is replaced as a whole when a status is added, never changed.
type seriesSet struct {
	latency prometheus.Observer
	codes   []codeSeries
}

type codeSeries struct {
	status   int
	requests prometheus.Counter
}

func (ms *methodSeries) get(m *httpMetrics, method, route string, status int) (prometheus.Counter, prometheus.Observer) {
	if set := ms.set.Load(); set != nil {
		for _, c := range set.codes {
			if c.status == status {
				return c.requests, set.latency
			}
		}
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	old := ms.set.Load()
	set := &seriesSet{}
	if old != nil {
		for _, c := range old.codes {
			if c.status == status { // added while this one waited for the lock
				return c.requests, old.latency
			}
		}
		*set = *old
		set.codes = slices.Clone(old.codes)
	} else {
		set.latency = m.latency.WithLabelValues(method, route)
	}
	c := codeSeries{status: status, requests: m.requests.WithLabelValues(method, route, statusText(status))}
	set.codes = append(set.codes, c)
	ms.set.Store(set)
	return c.requests, set.latency
}

// statusText is the code label of a status, without allocating for the usual ones.
func statusText(status int) string {
	switch status {
	case http.StatusOK:
		return "200"
	case http.StatusAccepted:
		return "202"
	case http.StatusNotFound:
		return "404"
	}
	return strconv.Itoa(status)
}

// newRequestID names a request, as the header value it is sent as: a random prefix of this
// process, a dash and a counter in base 36, unique without the cost of randomness on each
// request. Names are made idBatchSize at a time, in one string and one array of header
// values shared by those requests (a header value is replaced, never changed in place), so
// naming a request allocates nothing of its own.
func newRequestID() []string {
	for {
		b := idBatches.Load()
		if b != nil {
			if i := b.next.Add(1) - 1; i < idBatchSize {
				return b.ids[i : i+1 : i+1]
			}
		}
		idBatches.CompareAndSwap(b, newIDBatch()) // else another request made one: take from it
	}
}

const idBatchSize = 64

type idBatch struct {
	next atomic.Int32
	ids  [idBatchSize]string
}

func newIDBatch() *idBatch {
	b := new(idBatch)
	first := idCounter.Add(idBatchSize) - idBatchSize + 1
	var all strings.Builder
	all.Grow(idBatchSize * (len(idPrefix) + 1 + 13)) // at most 13 digits of counter
	var ends [idBatchSize]int
	var num [16]byte
	for i := range idBatchSize {
		all.WriteString(idPrefix)
		all.WriteByte('-')
		all.Write(strconv.AppendUint(num[:0], first+uint64(i), 36))
		ends[i] = all.Len()
	}
	text, start := all.String(), 0
	for i, end := range ends {
		b.ids[i], start = text[start:end], end
	}
	return b
}

func validRequestID(id string) bool {
	return id != "" && len(id) <= 64 && strings.Trim(id, idChars) == ""
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
	idBatches atomic.Pointer[idBatch]
)

func newIDPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
