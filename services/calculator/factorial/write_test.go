package factorial

import (
	"context"
	"errors"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteReportsMonotoneProgressEndingAtOne(t *testing.T) {
	var (
		mu      sync.Mutex
		got     []float64
		last    time.Time
		maxGap  time.Duration
		started = time.Now()
	)
	last = started
	progress := func(f float64) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		maxGap = max(maxGap, now.Sub(last))
		last = now
		got = append(got, f)
	}
	if _, err := Write(context.Background(), 1_000_000, io.Discard, progress); err != nil {
		t.Fatal(err)
	}
	if len(got) < 100 {
		t.Errorf("only %d progress reports, want at least 100", len(got))
	}
	if got[0] != 0 || got[len(got)-1] != 1 {
		t.Errorf("progress goes from %v to %v, want 0 to 1", got[0], got[len(got)-1])
	}
	for i, f := range got {
		if f < 0 || f > 1 || (i > 0 && f < got[i-1]) {
			t.Fatalf("report %d is %v after %v: not monotone within [0,1]", i, f, got[max(i-1, 0)])
		}
	}
	t.Logf("%d reports in %v, longest gap %v", len(got), time.Since(started), maxGap)
}

// TestWriteStopsPromptlyWhenCancelled cancels a computation before it starts, and when its
// progress reaches a given fraction: in the product trees at first, then along the chain of
// squarings up to the last product. Progress, not time, says when, and what it may spend after
// the cancellation is measured in the process's CPU time (two CPU-seconds: one second of both
// cores), so the test holds however fast or loaded the machine is. The package's tests run one
// at a time, so that time is the computation's.
func TestWriteStopsPromptlyWhenCancelled(t *testing.T) {
	tests := []struct {
		name string
		at   float64 // progress at which to cancel; 0: before the start
	}{
		{"before start", 0},
		{"in the product trees", 0.02},
		{"early in the squarings", 0.2},
		{"late in the squarings", 0.6},
		{"in the last product", 0.9},
		{"while writing", 0.995},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.at == 0 {
				cancel()
			}
			progress := func(f float64) {
				if tt.at > 0 && f >= tt.at {
					cancel()
				}
			}
			done := make(chan error, 1)
			go func() {
				_, err := Write(ctx, 10_000_000, io.Discard, progress)
				done <- err
			}()
			select {
			case <-ctx.Done():
			case err := <-done:
				t.Fatalf("Write returned %v before progress reached %v", err, tt.at)
			}
			cancelled, cpu := time.Now(), processCPU()
			const budget = 2 * time.Second
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("err = %v, want context.Canceled", err)
					}
					t.Logf("returned %v (%v of CPU) after cancellation", time.Since(cancelled), processCPU()-cpu)
					return
				case <-tick.C:
					if spent := processCPU() - cpu; spent > budget {
						t.Fatalf("Write still running after %v of CPU (%v) since cancellation", spent, time.Since(cancelled))
					}
				}
			}
		})
	}
}

// cancellingWriter cancels its context on the first write.
type cancellingWriter struct{ cancel context.CancelFunc }

func (w cancellingWriter) Write(p []byte) (int, error) {
	w.cancel()
	return len(p), nil
}

func TestWriteStopsWhenCancelledWhileWriting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	digits, err := Write(ctx, 1_000_000, cancellingWriter{cancel}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if digits == 0 || digits > writeBuffer {
		t.Errorf("digits = %d, want one buffer's worth (at most %d)", digits, writeBuffer)
	}
}

// residueWriter computes the value of the decimal text written to it modulo a prime q < 2^63.
type residueWriter struct {
	q, r   uint64
	digits int64
}

func (w *residueWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		hi, lo := bits.Mul64(w.r, 10)
		_, w.r = bits.Div64(hi, lo+uint64(c-'0'), w.q) // lo+digit cannot overflow: lo <= 10*(q-1)
	}
	w.digits += int64(len(p))
	return len(p), nil
}

// TestWriteLargeNResidues checks n! beyond the reference vectors by its residues modulo two
// primes larger than n, computed directly, with the best kernels the CPU runs, and the first
// size with each other set of kernels too. FACTORIAL_RESIDUE_N (comma-separated) replaces the
// sizes, e.g. 50000000,100000000 for the squares in blocks.
func TestWriteLargeNResidues(t *testing.T) {
	ns := []uint64{2_000_003, 10_000_000}
	if testing.Short() {
		ns = ns[:1]
	}
	if s := os.Getenv("FACTORIAL_RESIDUE_N"); s != "" {
		ns = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("FACTORIAL_RESIDUE_N: %v", err)
			}
			ns = append(ns, n)
		}
	}
	primes := []uint64{1<<61 - 1, 1<<31 - 1}
	type run struct {
		n uint64
		k kernelSet
	}
	ks := supportedKernels()
	var runs []run
	for _, n := range ns {
		runs = append(runs, run{n, ks[0]})
	}
	for _, k := range ks[1:] {
		runs = append(runs, run{ns[0], k})
	}
	defer func(k kernelSet) { kernels = k }(kernels)
	for _, r := range runs {
		n := r.n
		kernels = r.k
		ws := make([]*residueWriter, len(primes))
		mw := make([]io.Writer, len(primes))
		for i, q := range primes {
			ws[i] = &residueWriter{q: q}
			mw[i] = ws[i]
		}
		if _, err := Write(context.Background(), n, io.MultiWriter(mw...), nil); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			want := uint64(1)
			for i := uint64(2); i <= n; i++ {
				hi, lo := bits.Mul64(want, i)
				_, want = bits.Div64(hi, lo, w.q)
			}
			if w.r != want {
				t.Errorf("n=%d, %s kernels: text is %d mod %d, want %d", n, r.k, w.r, w.q, want)
			}
		}
	}
}
