package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
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
	e.Use(s.front(newHTTPMetrics(reg), keys, newRateLimiter(s.cfg.RateLimit)))

	v1 := e.Group("/api/v1")
	v1.POST("/factorial", s.postFactorial)
	v1.Match(readMethods, "/factorial", s.listFactorials)
	v1.DELETE("/factorial/:number", s.cancelFactorial)
	v1.Match(readMethods, "/factorial/:number", s.getFactorial)
	v1.Match(readMethods, "/factorial/metadata/:number", s.getMetadata)
	v1.Match(readMethods, "/events", s.streamEvents)

	mountStatic(e, files)
	health.Mount(e, reg, s.log, checks...)
	return e, nil
}

// Header values shared by every response (never modified, so one slice serves all).
var (
	hdrNosniff  = []string{"nosniff"}
	hdrReferrer = []string{"no-referrer"}
	hdrCSPNone  = []string{cspNone}
	hdrVary     = []string{"Accept, Accept-Encoding"}
)

// front is the one middleware every request goes through. (Echo applies middleware anew on
// each request, so each one costs a closure a request: one does it all.) It names the
// request (X-Request-Id), sets the security headers (nosniff, no referrer, and a
// Content-Security-Policy that allows nothing, which the page and Swagger UI replace with
// theirs), checks the API key and the client's rate on the API, turns a panic into a 500,
// and counts and logs the answer.
func (s *Service) front(m *httpMetrics, keys keyring, limiter *rateLimiter) echo.MiddlewareFunc {
	reads := s.cfg.Auth.AuthReads
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			start := time.Now()
			h := c.Response().Header()
			h["X-Content-Type-Options"] = hdrNosniff
			h["Referrer-Policy"] = hdrReferrer
			h["Content-Security-Policy"] = hdrCSPNone
			if id := c.Request().Header[echo.HeaderXRequestID]; len(id) == 1 && validRequestID(id[0]) {
				h[echo.HeaderXRequestID] = id // the client named it (as telemetry.Handler found): share it
			} else {
				h[echo.HeaderXRequestID] = []string{requestIDOf(c.Request())}
			}
			defer s.settle(c, m, start, &err)
			if err := authenticate(c, keys, reads); err != nil {
				return err
			}
			if err := limiter.admit(c); err != nil {
				return err
			}
			return next(c)
		}
	}
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

// Routes whose requests wait by design.
const (
	routeFactorial = "/api/v1/factorial/:number"
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
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete:
	default:
		method = "other" // any client can send any method: keep the series bounded
	}
	m.requests.WithLabelValues(method, route, statusText(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(took.Seconds())
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

// requestIDOf is the request's own X-Request-Id when it is a sensible one (at most 64
// letters, digits, '.', '_' or '-'), or else a new one: a random prefix of this process and
// a counter, unique without the cost of randomness on each request.
func requestIDOf(r *http.Request) string {
	if id := telemetry.RequestID(r.Context()); id != "" {
		return id // chosen by telemetry.Handler, with this very function
	}
	if id := r.Header.Get(echo.HeaderXRequestID); validRequestID(id) {
		return id
	}
	var buf [32]byte // 12 of prefix, a dash, at most 13 of counter
	b := append(buf[:0], idPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, idCounter.Add(1), 36)
	return string(b)
}

func validRequestID(id string) bool {
	return id != "" && len(id) <= 64 && strings.Trim(id, idChars) == ""
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
