package standalone_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// samples scrapes /metrics into "name{label=value,…}" → value (a histogram gives its
// _count and _sum).
func samples(t *testing.T, s *service) map[string]float64 {
	t.Helper()
	r := s.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", r.status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// After real traffic the metrics of each path have moved: the requests by route and status,
// the caches' hits and misses, the deliveries, the follower's lag, the lanes' backlog as
// JetStream tells it, the database pool, the open event streams, and the histograms of ?wait
// and SSE (which the ordinary latency histogram leaves out). The series this traffic cannot
// move (failures, corrupt results, the reconciler, dead letters) are exported all the same.
func TestMetricsMoveWithTraffic(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	before := samples(t, s)

	const small, large = 25, 30000
	for _, n := range []int64{small, large} {
		if r := s.post(n); r.status != http.StatusAccepted {
			t.Fatalf("POST %d: %d", n, r.status)
		}
		s.waitDone(n) // GET ?wait
	}
	for range 3 {
		s.get(fmt.Sprintf("/api/v1/factorial/%d", small)) // from the answers kept in the process
	}
	s.get("/api/v1/factorial/metadata/77") // never asked: a miss of both caches

	stream := s.events(t, "") // one stream open while scraped
	var during map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for during = samples(t, s); during["factorial_api_event_streams{}"] != 1 && time.Now().Before(deadline); during = samples(t, s) {
		time.Sleep(20 * time.Millisecond)
	}
	if during["factorial_api_event_streams{}"] != 1 {
		t.Errorf("factorial_api_event_streams = %v with one stream open", during["factorial_api_event_streams{}"])
	}
	_ = stream

	moved := func(key string, atLeast float64) {
		t.Helper()
		if d := during[key] - before[key]; d < atLeast {
			t.Errorf("%s moved by %v, want at least %v (before %v, after %v)", key, d, atLeast, before[key], during[key])
		}
	}
	moved("factorial_http_requests_total{code=202,method=POST,route=/api/v1/factorial}", 2)
	moved("factorial_http_requests_total{code=200,method=GET,route=/api/v1/factorial/:number}", 5) // ?wait too
	moved("factorial_api_cache_lookups_total{cache=local,result=hit}", 3)
	moved("factorial_api_cache_lookups_total{cache=local,result=miss}", 1)
	moved("factorial_api_cache_lookups_total{cache=shared,result=miss}", 1)
	moved("factorial_calculator_deliveries_total{lane=small,outcome=done}", 1)
	moved("factorial_calculator_deliveries_total{lane=large,outcome=done}", 1)
	moved("factorial_calculator_compute_seconds_count{lane=small}", 1)
	moved("factorial_calculator_compute_seconds_count{lane=large}", 1)
	moved("factorial_api_event_lag_seconds_count{}", 4) // requested and computed, of both
	moved("factorial_http_wait_seconds_count{}", 2)
	moved("go_sql_wait_count_total{db_name=factorial}", 0)
	if during["go_sql_open_connections{db_name=factorial}"] < 1 {
		t.Errorf("go_sql_open_connections = %v, want the pool's connection", during["go_sql_open_connections{db_name=factorial}"])
	}
	for _, key := range []string{
		"factorial_jetstream_consumer_pending{consumer=calculator-small}", "factorial_jetstream_consumer_ack_pending{consumer=calculator-large}",
		"factorial_api_events_behind{}", "factorial_api_waiters{}", "factorial_calculator_publish_failures_total{event=computed}",
		"factorial_api_publish_failures_total{event=cancelled}", "factorial_api_requests_unpublished_total{}",
		"factorial_calculator_in_flight{}", "factorial_jetstream_consumer_redelivered{consumer=calculator-large}",
		"factorial_jetstream_consumer_waiting{consumer=calculator-small}", "factorial_jetstream_stream_bytes{}",
		// What this traffic cannot move is there from the start, at 0 (an alert on a series
		// that does not exist yet never fires).
		"factorial_api_corrupt_results_total{reason=checksum}", "factorial_calculator_reconciled_total{action=republished}",
		"factorial_calculator_dead_letters_total{kind=payload}", "factorial_jetstream_scrape_errors_total{}",
		"factorial_calculator_deliveries_total{lane=large,outcome=failed}", "factorial_api_cache_lookups_total{cache=shared,result=error}",
	} {
		if _, ok := during[key]; !ok {
			t.Errorf("%s is not exported", key)
		}
	}
	if during["factorial_jetstream_stream_messages{}"] < 4 {
		t.Errorf("factorial_jetstream_stream_messages = %v, want the requests and results", during["factorial_jetstream_stream_messages{}"])
	}
	// ?wait is not in the ordinary latency histogram: only the three plain GETs of small are.
	route := "factorial_http_request_seconds_count{method=GET,route=/api/v1/factorial/:number}"
	if d := during[route] - before[route]; d != 3 {
		t.Errorf("the latency histogram of GET /api/v1/factorial/:number counted %v requests, want the 3 without ?wait", d)
	}

	// A stream that ends is observed in its own histogram, not in the latency one.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/events", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // until the client gives up
		resp.Body.Close()
	}
	key := "factorial_http_event_stream_seconds_count{}"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		after := samples(t, s)
		if after[key]-before[key] >= 1 {
			if events := "factorial_http_request_seconds_count{method=GET,route=/api/v1/events}"; after[events] != before[events] {
				t.Errorf("%s moved: event streams are in the latency histogram", events)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not move after a stream ended", key)
		}
	}
}
