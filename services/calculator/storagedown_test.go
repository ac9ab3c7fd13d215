package calculator_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/services/calculator"
)

// downStore is the memory store with S3 gone until up is set: every Put fails as a refused
// connection does.
type downStore struct {
	*objectstore.Memory
	up   atomic.Bool
	puts atomic.Int32
}

var errStoreDown = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func (d *downStore) Put(ctx context.Context, key string, r io.Reader) (objectstore.Object, error) {
	d.puts.Add(1)
	if !d.up.Load() {
		_, _ = io.Copy(io.Discard, r)
		return objectstore.Object{}, errStoreDown
	}
	return d.Memory.Put(ctx, key, r)
}

// An object store that is down (versitygw restarted) is not a failed attempt: with one attempt
// allowed, results that go to the store, in either lane, wait for it, pending, and are done in
// one attempt once it answers. Counted, a restart of S3 that took longer than the attempts'
// retries failed every such request for good.
func TestStorageDownIsNotAFailedAttempt(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAttempts = 1
	cfg.ResultRowMaxBytes = 0 // every result an object
	var down *downStore
	r := startCalculatorOver(t, cfg, calculator.EngineFunc(mathBig),
		func(c *countingRecords) calculatorRecords { return c },
		func(m *objectstore.Memory) calculator.ResultStore {
			down = &downStore{Memory: m}
			return down
		})
	ns := []int64{5, 6, 7, 30_001}
	for _, n := range ns {
		if _, _, err := r.records.Request(context.Background(), n, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.publish(n)
	}
	waitFor(t, 15*time.Second, "no upload tried twice while the store is down", func() bool {
		if down.puts.Load() >= 2*int32(len(ns)) {
			return true
		}
		for _, n := range ns {
			if rec, _ := r.records.Get(context.Background(), n); rec.Status == database.StatusFailed {
				return true
			}
		}
		return false
	})
	for _, n := range ns {
		if rec, _ := r.records.Get(context.Background(), n); rec.Status == database.StatusFailed || rec.Attempts > 1 {
			t.Fatalf("%d with the store down: %s after %d attempts (%q), want pending or computing", n, rec.Status, rec.Attempts, rec.Error)
		}
	}
	checkUnavailableNotRetry(t, r)
	down.up.Store(true)
	for _, n := range ns {
		if rec := waitStatus(t, r.records, n, database.StatusDone); rec.Attempts != 1 {
			t.Errorf("%d done after %d attempts, want 1", n, rec.Attempts)
		}
	}
}
