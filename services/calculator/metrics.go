package calculator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
)

// metrics are the calculator's. There is no gauge of each computation's progress: a series
// per number would be a new series for every request (unbounded), and one gauge shared by
// concurrent computations says nothing; the progress of each number is in its record (GET,
// metadata, the list) and in factorial.progress (SSE).
type metrics struct {
	outcomes        *prometheus.CounterVec
	seconds         *prometheus.HistogramVec
	inFlight        prometheus.Gauge
	deadLetters     *prometheus.CounterVec
	reconciled      *prometheus.CounterVec
	publishFailures *prometheus.CounterVec
}

// events the calculator publishes, for publishFailures.
var published = []string{"computed", "failed", "progress", "deadletter"}

// outcomes of a delivery, each a series from the start.
var outcomes = []string{"done", "duplicate", "retry", "unavailable", "failed", "cancelled"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_calculator_deliveries_total",
			Help: "Deliveries of factorial.requested by lane and outcome: done, duplicate (finished or being computed elsewhere), retry (an attempt failed), unavailable (the database or the object store did not answer: tried again, not an attempt), failed, cancelled.",
		}, []string{"lane", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "factorial_calculator_compute_seconds",
			Help:    "Time to compute, store and verify one factorial, by lane.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12),
		}, []string{"lane"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorial_calculator_in_flight",
			Help: "Large-lane factorials being computed now (the small lane's take milliseconds).",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorial_calculator_dead_letters_total",
			Help: "Deliveries set aside on factorial.deadletter, by kind: subject, payload, mismatch (payload and subject disagree), out_of_range.",
		}, []string{"kind"}),
	}
	m.reconciled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_calculator_reconciled_total",
		Help: "What the reconciler did: republished (a request JetStream had lost), held (a stuck request JetStream still holds: nothing published), announced (a result whose factorial.computed was owed), recomputed (a result owed its announcement whose digits in the row no longer match it: sent back to be computed).",
	}, []string{"action"})
	m.publishFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_calculator_publish_failures_total",
		Help: "Events the calculator could not publish, by event: computed (the reconciler announces it later), failed, progress, deadletter (the request is delivered again).",
	}, []string{"event"})
	reg.MustRegister(m.outcomes, m.seconds, m.inFlight, m.deadLetters, m.reconciled, m.publishFailures)
	for _, e := range published {
		m.publishFailures.WithLabelValues(e)
	}
	for _, action := range []string{"republished", "held", "announced", "recomputed"} {
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
