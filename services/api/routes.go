package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/platform/health"
)

// readMethods are the methods of every read route: HEAD is GET without the body.
var readMethods = []string{http.MethodGet, http.MethodHead}

// routes builds the echo instance: middleware, the API, the document with a Swagger UI,
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
	e.Use(
		echomw.Recover(),
		echomw.RequestID(),
		securityHeaders,
		s.logRequests(),
		httpMetrics(reg),
		s.authenticate(keys, s.cfg.Auth.AuthReads),
		newRateLimiter(s.cfg.RateLimit).middleware,
	)

	v1 := e.Group("/api/v1")
	v1.POST("/factorial", s.postFactorial)
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
	hdrFrame    = []string{"DENY"}
	hdrCSPNone  = []string{cspNone}
	hdrVary     = []string{"Accept, Accept-Encoding"}
)

// securityHeaders sets, on every response, nosniff, no referrer, no framing and a
// Content-Security-Policy that allows nothing; the page and Swagger UI replace the policy
// with theirs.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["Referrer-Policy"] = hdrReferrer
		h["X-Frame-Options"] = hdrFrame
		h["Content-Security-Policy"] = hdrCSPNone
		return next(c)
	}
}

// logRequests logs each request at debug with its request id, and server errors at warn
// (a 500 is also logged in full by the error handler). Logging every request at info would
// cost more than serving a cached result.
func (s *Service) logRequests() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			level := s.log.Debug
			if status >= 500 {
				level = s.log.Warn
			}
			if status >= 500 || s.log.Enabled(c.Request().Context(), slog.LevelDebug) {
				req := c.Request()
				level("http", "method", req.Method, "uri", req.URL.Path, "status", status,
					"latency_ms", time.Since(start).Milliseconds(), "request_id", requestID(c), "client", clientID(req))
			}
			return nil
		}
	}
}

// httpMetrics counts requests and their latency by route (the pattern, not the URL, so the
// number of series stays bounded). A client that went away is counted as 499.
func httpMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_http_requests_total", Help: "HTTP requests by method, route and status (499: the client went away).",
	}, []string{"method", "route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "factorial_http_request_seconds", Help: "HTTP request latency by method and route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	reg.MustRegister(requests, latency)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the problem now, so its status is what is counted
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			method := c.Request().Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost:
			default:
				method = "other" // any client can send any method: keep the series bounded
			}
			requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
			latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}
