package calculator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
)

type metrics struct {
	outcomes    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	progress    prometheus.Gauge
	deadLetters *prometheus.CounterVec
	reconciled  *prometheus.CounterVec
}

// outcomes of a delivery, each a series from the start.
var outcomes = []string{"done", "duplicate", "retry", "failed", "cancelled"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_calculator_deliveries_total",
			Help: "Deliveries of factorial.requested by lane and outcome: done, duplicate (finished or being computed elsewhere), retry, failed, cancelled.",
		}, []string{"lane", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "factorial_calculator_compute_seconds",
			Help:    "Time to compute, store and verify one factorial, by lane.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12),
		}, []string{"lane"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_calculator_in_flight",
			Help: "Factorials being computed now.",
		}),
		progress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_calculator_progress",
			Help: "Progress (0 to 1) of the latest large factorial being computed.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_calculator_dead_letters_total",
			Help: "Deliveries set aside on factorial.deadletter, by kind: subject, payload, mismatch (payload and subject disagree), out_of_range.",
		}, []string{"kind"}),
	}
	m.reconciled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_calculator_reconciled_total",
		Help: "What the reconciler did: republished (a request JetStream had lost), held (a stuck request JetStream still holds: nothing published), announced (a result whose factorial.computed was owed).",
	}, []string{"action"})
	reg.MustRegister(m.outcomes, m.seconds, m.inFlight, m.progress, m.deadLetters, m.reconciled)
	for _, action := range []string{"republished", "held", "announced"} {
		m.reconciled.WithLabelValues(action)
	}
	for _, lane := range events.Lanes {
		for _, o := range outcomes {
			m.outcomes.WithLabelValues(string(lane), o)
		}
		m.seconds.WithLabelValues(string(lane))
	}
	for _, kind := range []string{"subject", "payload", "mismatch", "out_of_range"} {
		m.deadLetters.WithLabelValues(kind)
	}
	return m
}

func (m *metrics) outcome(lane events.Lane, outcome string) {
	m.outcomes.WithLabelValues(string(lane), outcome).Inc()
}
