package calculator

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	outcomes *prometheus.CounterVec
	seconds  prometheus.Histogram
	inFlight prometheus.Gauge
	progress prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_calculator_deliveries_total",
			Help: "Deliveries of factorial.requested by outcome: done, duplicate, retry, failed, malformed.",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "factorial_calculator_compute_seconds",
			Help:    "Time to compute, store and verify one factorial.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_calculator_in_flight",
			Help: "Factorials being computed now.",
		}),
		progress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_calculator_progress",
			Help: "Progress (0 to 1) of the latest factorial being computed.",
		}),
	}
	reg.MustRegister(m.outcomes, m.seconds, m.inFlight, m.progress)
	for _, outcome := range []string{"done", "duplicate", "retry", "failed", "malformed"} {
		m.outcomes.WithLabelValues(outcome) // every series exists from the start, at 0
	}
	return m
}
