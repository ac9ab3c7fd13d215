package calculator

import (
	"runtime"
	"strings"
	"testing"
)

// A large computation leaves the small lane a core unless told otherwise, and never gets
// fewer than one.
func TestLargeCores(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	tests := []struct {
		name    string
		setting int
		want    int
	}{
		{"every core but one by default", 0, max(1, procs-1)},
		{"as many as set", 3, 3},
		{"one when set to one", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := largeCores(tt.setting); got != tt.want {
				t.Errorf("largeCores(%d) = %d with GOMAXPROCS %d, want %d", tt.setting, got, procs, tt.want)
			}
		})
	}
	cfg := Config{Concurrency: 1, SmallConcurrency: 1, LargeCores: -1}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CALCULATOR_LARGE_CORES") {
		t.Errorf("CALCULATOR_LARGE_CORES=-1: %v, want it refused", err)
	}
	for _, nice := range []int{-1, 20} {
		cfg := Config{Concurrency: 1, SmallConcurrency: 1, LargeNice: nice}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CALCULATOR_LARGE_NICE") {
			t.Errorf("CALCULATOR_LARGE_NICE=%d: %v, want it refused", nice, err)
		}
	}
}

// A large computation on a niced thread holds a Go P of its own beside one per core while it
// runs, and gives it back when it ends; nothing when the operator set GOMAXPROCS or the
// threads are not niced.
func TestReserveLargeProcs(t *testing.T) {
	base := cores()
	t.Cleanup(func() {
		ReserveLargeProcs(Config{}, false)
		runtime.GOMAXPROCS(base)
	})
	reserves := threadNice
	tests := []struct {
		name string
		cfg  Config
		set  bool
		on   bool
	}{
		{"one more per large computation when niced", Config{Concurrency: 2, LargeNice: 10}, false, reserves},
		{"unchanged when not niced", Config{Concurrency: 2}, false, false},
		{"unchanged when GOMAXPROCS is set", Config{Concurrency: 2, LargeNice: 10}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ReserveLargeProcs(tt.cfg, tt.set)
			want := func(running int) {
				t.Helper()
				if !tt.on {
					running = 0
				}
				if got := runtime.GOMAXPROCS(0); got != base+running {
					t.Errorf("GOMAXPROCS %d with %d large computations running, want %d", got, running, base+running)
				}
			}
			want(0) // none while nothing large runs
			first := largeProcs.hold()
			want(1)
			second := largeProcs.hold()
			want(2)
			first()
			want(1)
			second()
			want(0)
			if got := largeCores(0); got != max(1, base-1) {
				t.Errorf("largeCores(0) = %d, want %d (the cores before)", got, max(1, base-1))
			}
		})
	}
}
