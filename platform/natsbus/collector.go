package natsbus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
)

// Collector reports JetStream's view of the work: for each lane consumer, the requests not
// yet delivered (pending), delivered and not yet acked (ack pending), delivered more than
// once (redelivered) and the pull requests waiting; and the stream's messages and bytes. It
// asks JetStream at each scrape, within a short timeout: what does not answer in time is left
// out of that scrape and counted in factorial_jetstream_scrape_errors_total, so a scrape
// never hangs on NATS. Every replica that registers it reports the same numbers (the
// consumers are shared): aggregate them with max, not sum.
type Collector struct {
	js      jetstream.JetStream
	topo    topology
	timeout time.Duration

	pending, ackPending, redelivered, waiting *prometheus.Desc
	messages, bytes                           *prometheus.Desc
	errors                                    prometheus.Counter
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector reports on the stream and lane consumers through js, waiting at most timeout
// for JetStream at each scrape.
func NewCollector(js jetstream.JetStream, timeout time.Duration) *Collector {
	return newCollector(js, defaultTopology, timeout)
}

func newCollector(js jetstream.JetStream, topo topology, timeout time.Duration) *Collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		js: js, topo: topo, timeout: timeout,
		pending:     desc("factorial_jetstream_consumer_pending", "Requests of the lane not yet delivered to a calculator (the backlog).", "consumer"),
		ackPending:  desc("factorial_jetstream_consumer_ack_pending", "Requests of the lane delivered and not yet acknowledged (being computed, or waiting in a calculator).", "consumer"),
		redelivered: desc("factorial_jetstream_consumer_redelivered", "Requests of the lane delivered more than once and not yet acknowledged.", "consumer"),
		waiting:     desc("factorial_jetstream_consumer_waiting", "Pull requests of calculators waiting for work on the lane.", "consumer"),
		messages:    desc("factorial_jetstream_stream_messages", "Messages the stream holds."),
		bytes:       desc("factorial_jetstream_stream_bytes", "Bytes the stream holds."),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "factorial_jetstream_scrape_errors_total",
			Help: "Scrapes in which JetStream did not tell the state of the stream or of a lane consumer in time.",
		}),
	}
}

// Describe sends the descriptions of the metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.ackPending, c.redelivered, c.waiting, c.messages, c.bytes} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect asks JetStream for the state of the stream and of each lane consumer.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	defer c.errors.Collect(ch)
	st, err := c.js.Stream(ctx, c.topo.stream)
	if err != nil {
		c.errors.Inc()
		return
	}
	state := st.CachedInfo().State
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(state.Msgs))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(state.Bytes))
	for _, lane := range events.Lanes {
		cons, err := st.Consumer(ctx, lane.Durable())
		if err != nil {
			c.errors.Inc()
			continue
		}
		info := cons.CachedInfo()
		name := lane.Durable()
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), name)
		ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), name)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(info.NumWaiting), name)
	}
}
