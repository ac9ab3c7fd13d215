package api

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are the API's metrics beyond HTTP's (routes.go): its two caches, the event
// follower, what clients hold open, and the events it could not publish.
type apiMetrics struct {
	localHit, localMiss                 prometheus.Counter
	sharedHit, sharedMiss, sharedFailed prometheus.Counter
	eventLag                            prometheus.Histogram
	eventsBehind                        prometheus.Gauge
	publishFailures                     *prometheus.CounterVec
}

func newAPIMetrics(reg prometheus.Registerer, l *limits) *apiMetrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_api_cache_lookups_total",
		Help: "Lookups of finished results by cache (local: the answers kept in this process; shared: Redis or the in-process cache) and result (hit, miss, error: the cache did not answer).",
	}, []string{"cache", "result"})
	m := &apiMetrics{
		localHit: lookups.WithLabelValues("local", "hit"), localMiss: lookups.WithLabelValues("local", "miss"),
		sharedHit: lookups.WithLabelValues("shared", "hit"), sharedMiss: lookups.WithLabelValues("shared", "miss"),
		sharedFailed: lookups.WithLabelValues("shared", "error"),
		eventLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "factorial_api_event_lag_seconds",
			Help:    "Time from an event's storing in the stream to its handling by this API's follower.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120},
		}),
		eventsBehind: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_api_events_behind",
			Help: "Events of the stream this API's follower has not handled yet (as of the last one it handled).",
		}),
		publishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_api_publish_failures_total",
			Help: "Events the API could not publish, by event: cancelled (the computation then stops at its next heartbeat). Requests are counted in factorial_api_requests_unpublished_total.",
		}, []string{"event"}),
	}
	m.publishFailures.WithLabelValues("cancelled")
	open := func(name, help string, sem chan struct{}) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(len(sem)) })
	}
	reg.MustRegister(lookups, m.eventLag, m.eventsBehind, m.publishFailures,
		open("factorial_api_event_streams", "Server-Sent Events streams open now (at most HTTP_MAX_EVENT_STREAMS).", l.streams),
		open("factorial_api_waiters", "GET ?wait requests waiting now (at most HTTP_MAX_WAITERS).", l.waiters),
	)
	return m
}

// followed records how far behind the follower is, from the event it has just handled.
func (m *apiMetrics) followed(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	m.eventLag.Observe(max(time.Since(md.Timestamp), 0).Seconds())
	m.eventsBehind.Set(float64(md.NumPending))
}

// local looks n up in the answers kept in this process, counting hits and misses.
func (r *results) local(n int64) *hotEntry {
	if r.hot == nil {
		return nil
	}
	e := r.hot.get(n)
	if e != nil {
		r.metrics.localHit.Inc()
	} else {
		r.metrics.localMiss.Inc()
	}
	return e
}
