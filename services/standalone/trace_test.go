package standalone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/factorial-service/factorial/platform/telemetry"
	"github.com/factorial-service/factorial/services/standalone"
)

// logBuffer is a buffer of JSON log lines several goroutines write into.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the JSON log lines that have every key and value of want.
func (b *logBuffer) lines(want map[string]any) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && m[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// One trace spans the API and the calculator: the POST's server span, the publication of
// the request, the calculator's handling of it (claim, compute, store, verify, record, with
// the database's spans under them), the announcement and the API's handling of that, all
// with one trace id, the calculator's side continuing the API's through the NATS headers.
// The calculator's log lines about the request carry its trace_id and the POST's request_id.
// A small-lane request's trace reaches the calculator too (the announcement of its result),
// linked with the batch it was computed in.
func TestOneTraceFromHTTPToTheCalculator(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	t.Cleanup(telemetry.Install(tp)) // before the service is built, as Setup is in the mains

	var logs logBuffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := standalone.Start(ctx, testConfig(t, t.TempDir()), standalone.Deps{Log: log, Engine: newCountingEngine(nil)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &service{t: t, app: app, base: "http://" + app.Addr().String(), stop: cancel}
	t.Cleanup(s.shutdown)

	const large, small = 30000, 20
	for n, id := range map[int64]string{large: "trace-large", small: "trace-small"} {
		r := s.request(http.MethodPost, "/api/v1/factorial", "application/json", `{"number": `+itoa(n)+`}`, "X-Request-Id", id)
		if r.status != http.StatusAccepted || r.header.Get("X-Request-Id") != id {
			t.Fatalf("POST %d: %d, X-Request-Id %q", n, r.status, r.header.Get("X-Request-Id"))
		}
		s.waitDone(n)
	}

	// spansOf waits until the trace of the POST of n has a span called last, and returns
	// the trace's spans by name.
	spansOf := func(n int64, last string) (trace.TraceID, map[string]tracetest.SpanStub) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var id trace.TraceID
			for _, sp := range exp.GetSpans() {
				if sp.Name == "POST /api/v1/factorial" && sp.SpanKind == trace.SpanKindServer {
					for _, c := range exp.GetSpans() {
						if c.Parent.SpanID() == sp.SpanContext.SpanID() && strings.HasSuffix(c.Name, "."+itoa(n)+" publish") {
							id = sp.SpanContext.TraceID()
						}
					}
				}
			}
			byName := map[string]tracetest.SpanStub{}
			for _, sp := range exp.GetSpans() {
				if id.IsValid() && sp.SpanContext.TraceID() == id {
					if _, dup := byName[sp.Name]; !dup {
						byName[sp.Name] = sp
					}
				}
			}
			if _, ok := byName[last]; ok {
				return id, byName
			}
			if time.Now().After(deadline) {
				t.Fatalf("no span %q in the trace of %d within 20s; spans: %v", last, n, names(exp.GetSpans()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("the large lane: one trace from the POST to the announcement", func(t *testing.T) {
		id, spans := spansOf(large, "factorial.computed process")
		publish, process := spans["factorial.requested.large.30000 publish"], spans["factorial.requested.large.30000 process"]
		if publish.SpanKind != trace.SpanKindProducer || process.SpanKind != trace.SpanKindConsumer {
			t.Fatalf("publish kind %v, process kind %v; want producer and consumer", publish.SpanKind, process.SpanKind)
		}
		if process.Parent.SpanID() != publish.SpanContext.SpanID() || !process.Parent.IsRemote() {
			t.Errorf("the calculator's span has parent %s (remote %v), want the API's publish span %s, remote: the trace must cross NATS",
				process.Parent.SpanID(), process.Parent.IsRemote(), publish.SpanContext.SpanID())
		}
		for _, name := range []string{"claim", "compute", "store", "verify", "record", "factorial.computed publish"} {
			sp, ok := spans[name]
			if !ok {
				t.Errorf("no %s span in the trace; spans: %v", name, keys(spans))
				continue
			}
			if name != "factorial.computed publish" && sp.Parent.SpanID() != process.SpanContext.SpanID() {
				t.Errorf("%s is not a child of the calculator's span", name)
			}
		}
		if follow := spans["factorial.computed process"]; follow.Parent.SpanID() != spans["factorial.computed publish"].SpanContext.SpanID() {
			t.Errorf("the API's handling of factorial.computed does not continue the announcement")
		}
		dbUnderClaim := false
		for _, sp := range exp.GetSpans() {
			if sp.SpanContext.TraceID() != id || attr(sp, "db.system.name")+attr(sp, "db.system") == "" {
				continue
			}
			dbUnderClaim = dbUnderClaim || sp.Parent.SpanID() == spans["claim"].SpanContext.SpanID()
			// Named after what the statement does (bunotel alone names a raw one SELECT).
			if verb, _, _ := strings.Cut(strings.TrimSpace(attr(sp, "db.statement")), " "); sp.Name != strings.ToUpper(verb) {
				t.Errorf("a database span named %q for %.40q", sp.Name, attr(sp, "db.statement"))
			}
		}
		if !dbUnderClaim {
			t.Error("no database span under claim")
		}

		lines := logs.lines(map[string]any{"msg": "computing", "number": float64(large)})
		if len(lines) == 0 {
			t.Fatal("no log line computing for the large number")
		}
		if l := lines[0]; l["trace_id"] != id.String() || l["request_id"] != "trace-large" {
			t.Errorf("the calculator's line %v; want trace_id %s and request_id trace-large", l, id)
		}
	})

	t.Run("the small lane: the announcement in the request's trace, linked to its batch", func(t *testing.T) {
		_, spans := spansOf(small, "factorial.computed publish")
		announce := spans["factorial.computed publish"]
		if len(announce.Links) != 1 {
			t.Fatalf("the announcement has %d links, want its batch", len(announce.Links))
		}
		batch := announce.Links[0].SpanContext
		for _, sp := range exp.GetSpans() {
			if sp.SpanContext.SpanID() != batch.SpanID() {
				continue
			}
			for _, l := range sp.Links {
				if l.SpanContext.SpanID() == spans["factorial.requested.small.20 publish"].SpanContext.SpanID() {
					return // the batch links back to the request's publication
				}
			}
			t.Fatalf("the batch span %q does not link to the request", sp.Name)
		}
		t.Fatal("the batch span was not recorded")
	})
}

func attr(sp tracetest.SpanStub, key string) string {
	for _, a := range sp.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name)
	}
	return out
}

func keys(m map[string]tracetest.SpanStub) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
