package calculator_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/services/calculator"
)

// rig is a calculator running over an in-process NATS server, SQLite and a memory store.
type rig struct {
	records *database.Factorials
	counts  *countingRecords
	store   *objectstore.Memory
	dial    natsbus.Dialer
	reg     *prometheus.Registry
	svc     *calculator.Service
	pub     *natsbus.Publisher
	natsURL string
	ns      *server.Server
}

// countingRecords is the repository, counting the batch statements.
type countingRecords struct {
	*database.Factorials
	claims, completes atomic.Int32
}

func (c *countingRecords) ClaimBatch(ctx context.Context, ns []int64, worker string, now, staleBefore time.Time) ([]database.Record, error) {
	c.claims.Add(1)
	return c.Factorials.ClaimBatch(ctx, ns, worker, now, staleBefore)
}

func (c *countingRecords) CompleteBatch(ctx context.Context, worker string, cs []database.Completion, now time.Time) ([]database.Record, error) {
	c.completes.Add(1)
	return c.Factorials.CompleteBatch(ctx, worker, cs, now)
}

// calculatorRecords is what the calculator is built with.
type calculatorRecords interface {
	calculator.Records
	calculator.StuckRecords
}

// startCalculator starts a calculator with cfg and engine, stopped when the test ends.
func startCalculator(t *testing.T, cfg calculator.Config, engine calculator.Engine) *rig {
	t.Helper()
	return startCalculatorWith(t, cfg, engine, func(c *countingRecords) calculatorRecords { return c })
}

// startCalculatorWith starts a calculator whose repository wrap makes of the rig's.
func startCalculatorWith(t *testing.T, cfg calculator.Config, engine calculator.Engine, wrap func(*countingRecords) calculatorRecords) *rig {
	t.Helper()
	return startCalculatorOver(t, cfg, engine, wrap, func(s *objectstore.Memory) calculator.ResultStore { return s })
}

// startCalculatorOver starts a calculator whose repository wrap makes of the rig's, and whose
// store wrapStore makes of the rig's memory store.
func startCalculatorOver(t *testing.T, cfg calculator.Config, engine calculator.Engine, wrap func(*countingRecords) calculatorRecords, wrapStore func(*objectstore.Memory) calculator.ResultStore) *rig {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{
		records: database.NewFactorials(dbtest.SQLite(t)),
		store:   objectstore.NewMemory(),
		dial:    natsbus.NewDialer(ns.ClientURL(), log),
		reg:     prometheus.NewRegistry(),
		natsURL: ns.ClientURL(),
		ns:      ns,
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.counts = &countingRecords{Factorials: r.records}
	r.svc, err = calculator.New(ctx, cfg, calculator.Deps{
		Log: log, Dial: r.dial, Records: wrap(r.counts), Store: wrapStore(r.store), Engine: engine,
		Registry: r.reg, WorkerID: "live",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	select {
	case <-r.svc.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("calculator not running after 10s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	nc := r.conn(t, "test-publisher")
	if r.pub, err = natsbus.NewPublisher(nc); err != nil {
		t.Fatal(err)
	}
	return r
}

// conn dials the rig's NATS, closed when the test ends.
func (r *rig) conn(t *testing.T, name string) *nats.Conn {
	t.Helper()
	nc, err := r.dial(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publish publishes a request for n, as the API does.
func (r *rig) publish(n int64) {
	payload, _ := events.Encode(events.Requested{Number: n, RequestedAt: time.Now().UTC()})
	if err := r.pub.Publish(context.Background(), natsbus.Msg{Subject: events.RequestedSubject(n), Data: payload}); err != nil {
		panic(err)
	}
}

// publishRaw publishes data on subject, as anyone with access to NATS could.
func (r *rig) publishRaw(t *testing.T, subject, data string) {
	t.Helper()
	if err := r.pub.Publish(t.Context(), natsbus.Msg{Subject: subject, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

// counter reads a counter of the calculator's metrics.
func (r *rig) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := true
			for i, l := range m.GetLabel() {
				if i >= len(labels) || l.GetValue() != labels[i] {
					match = false
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}
