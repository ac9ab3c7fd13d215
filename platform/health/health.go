// Package health serves the probes every service exposes: /healthz (the process is alive),
// /readyz (its dependencies answer) and /metrics (Prometheus).
package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is reachable.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Reason is an error whose message is safe to show in /readyz (no path, address, SQL or Go
// error text): a check returns one, or wraps one, to say more than "unavailable".
type Reason string

func (r Reason) Error() string { return string(r) }

// shown is what /readyz says of a failed check: its Reason if it has one, "timed out" if it
// ran out of time, "unavailable" otherwise. The error itself goes to the log only.
func shown(err error) string {
	var r Reason
	switch {
	case errors.As(err, &r):
		return string(r)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "unavailable"
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Mount adds /healthz, /readyz and /metrics to e, each answering GET and HEAD. /readyz
// names each check with "ok" or a short reason; the errors themselves are logged to log.
func Mount(e *echo.Echo, reg *prometheus.Registry, log *slog.Logger, checks ...Check) {
	get := []string{http.MethodGet, http.MethodHead}
	e.Match(get, "/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.Match(get, "/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		// The checks run at once, each with the whole budget: one after another, a dependency
		// that does not answer used it up, and the checks after it said "timed out" too.
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, ch := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = ch.Ping(ctx)
			}()
		}
		wg.Wait()
		status, code := map[string]string{}, http.StatusOK
		for i, ch := range checks {
			if err := errs[i]; err != nil {
				status[ch.Name], code = shown(err), http.StatusServiceUnavailable
				log.Warn("not ready", "check", ch.Name, "err", err)
				continue
			}
			status[ch.Name] = "ok"
		}
		return c.JSON(code, status)
	})
	e.Match(get, "/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
}
