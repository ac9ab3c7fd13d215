//go:build linux

package calculator_test

import (
	"context"
	"io"
	"math/big"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// A large computation runs on a thread of its own with the niceness of CALCULATOR_LARGE_NICE
// (0: the process's) and, niced, with a Go P more while it runs (ReserveLargeProcs); its
// digits are still those of n!.
func TestLargeComputationThreadIsNiced(t *testing.T) {
	base, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	baseNice := 20 - base // the system call answers 20 − niceness
	if baseNice >= 12 {
		t.Skipf("the test runs with niceness %d already", baseNice)
	}
	tests := []struct {
		name    string
		setting int
		want    int
		procs   int // Ps added while it runs
	}{
		{"niced as set", 12, 12, 1},
		{"unchanged when off", 0, baseNice, 0},
	}
	procs := runtime.GOMAXPROCS(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nice, running atomic.Int64
			nice.Store(-100)
			engine := calculator.EngineFunc(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
				if p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid()); err == nil {
					nice.Store(int64(20 - p))
				}
				running.Store(int64(runtime.GOMAXPROCS(0)))
				return factorial.WriteCores(ctx, n, w, progress, 1)
			})
			cfg := testConfig()
			cfg.LargeNice = tt.setting
			calculator.ReserveLargeProcs(cfg, false)
			t.Cleanup(func() { calculator.ReserveLargeProcs(calculator.Config{}, false) })
			r := startCalculator(t, cfg, engine)
			const n = 30_000 // the large lane
			r.publish(n)
			rec := waitStatus(t, r.records, n, database.StatusDone)
			if got := nice.Load(); got != int64(tt.want) {
				t.Errorf("the engine ran with niceness %d, want %d", got, tt.want)
			}
			if got := running.Load(); got != int64(procs+tt.procs) {
				t.Errorf("GOMAXPROCS %d while it ran, want %d", got, procs+tt.procs)
			}
			// The P is given back as the engine's goroutine ends, which may be just after the
			// record is done.
			for wait := time.Now().Add(5 * time.Second); runtime.GOMAXPROCS(0) != procs && time.Now().Before(wait); {
				time.Sleep(time.Millisecond)
			}
			if got := runtime.GOMAXPROCS(0); got != procs {
				t.Errorf("GOMAXPROCS %d once it ended, want %d", got, procs)
			}
			obj, err := r.store.Open(context.Background(), rec.Key)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			got, err := io.ReadAll(obj)
			if err != nil {
				t.Fatal(err)
			}
			if want := new(big.Int).MulRange(1, n).String(); string(got) != want {
				t.Errorf("%d! from the niced thread: %d digits, not those of math/big (%d)", n, len(got), len(want))
			}
			// This goroutine's thread, and so the calculator's others, kept their priority.
			if p, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid()); 20-p != baseNice {
				t.Errorf("the test's thread has niceness %d, want %d", 20-p, baseNice)
			}
		})
	}
}
