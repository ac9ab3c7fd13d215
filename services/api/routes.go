package api

import (
	"embed"
	"net/http"
	"strconv"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	echoswagger "github.com/swaggo/echo-swagger"

	apispec "github.com/factorial-service/factorial/api-spec"
	"github.com/factorial-service/factorial/platform/health"
)

//go:embed web/index.html web/app.js web/app.css
var web embed.FS

// routes builds the echo instance: middleware, the API validated against its OpenAPI
// document, the document itself with a Swagger UI, the web page and the probes.
func (s *Service) routes(spec routers.Router, reg *prometheus.Registry, checks []health.Check) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.log)
	e.Use(
		echomw.Recover(),
		echomw.RequestID(),
		s.logRequests(),
		httpMetrics(reg),
		echomw.BodyLimit(strconv.Itoa(maxBodyBytes)+"B"),
		validateRequests(spec, s.cfg.MaxNumber),
	)

	v1 := e.Group("/api/v1")
	v1.POST("/factorial", s.postFactorial)
	v1.GET("/factorial/:number", s.getFactorial)
	v1.GET("/factorial/metadata/:number", s.getMetadata)
	v1.GET("/events", s.streamEvents)

	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", apispec.OpenAPI)
	})
	toUI := func(c echo.Context) error { return c.Redirect(http.StatusFound, "/swagger/index.html") }
	e.GET("/swagger", toUI)
	e.GET("/swagger/", toUI)
	// Only our document: echoswagger.URL would add it after swag's doc.json, which we lack.
	e.GET("/swagger/*", echoswagger.EchoWrapHandler(func(c *echoswagger.Config) { c.URLs = []string{"/openapi.yaml"} }))
	e.GET("/", func(c echo.Context) error {
		page, _ := web.ReadFile("web/index.html")
		return c.HTMLBlob(http.StatusOK, page)
	})
	// The page's script and style: files of their own, so it runs without inline code.
	for _, name := range []string{"app.js", "app.css"} {
		e.GET("/assets/"+name, echo.StaticFileHandler("web/"+name, web), revalidate)
	}
	health.Mount(e, reg, checks...)
	return e
}

// revalidate makes browsers check the page's files on each load, so a new version shows at once.
func revalidate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		return next(c)
	}
}

// logRequests logs each request at Info (Debug for probes and metrics) with its request id.
func (s *Service) logRequests() echo.MiddlewareFunc {
	return echomw.RequestLoggerWithConfig(echomw.RequestLoggerConfig{
		LogMethod: true, LogURI: true, LogStatus: true, LogLatency: true, LogRequestID: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v echomw.RequestLoggerValues) error {
			level := s.log.Info
			switch c.Path() {
			case "/healthz", "/readyz", "/metrics":
				level = s.log.Debug
			}
			level("http", "method", v.Method, "uri", v.URI, "status", v.Status,
				"latency_ms", v.Latency.Milliseconds(), "request_id", v.RequestID)
			return nil
		},
	})
}

// httpMetrics counts requests and their latency by route (the pattern, not the URL, so the
// number of series stays bounded).
func httpMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_http_requests_total", Help: "HTTP requests by method, route and status.",
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
			status := c.Response().Status
			if err != nil {
				c.Error(err) // write the problem now, so its status is what is counted
				status = c.Response().Status
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
			latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}
