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

// A large computation on a niced thread gets a Go P of its own beside one per core, unless
// the operator set GOMAXPROCS or the threads are not niced.
func TestReserveLargeProcs(t *testing.T) {
	base := cores()
	t.Cleanup(func() { runtime.GOMAXPROCS(base) })
	extra := 0
	if threadNice {
		extra = 2
	}
	tests := []struct {
		name string
		cfg  Config
		set  bool
		want int
	}{
		{"one more per large computation when niced", Config{Concurrency: 2, LargeNice: 10}, false, base + extra},
		{"unchanged when not niced", Config{Concurrency: 2}, false, base},
		{"unchanged when GOMAXPROCS is set", Config{Concurrency: 2, LargeNice: 10}, true, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GOMAXPROCS(base)
			ReserveLargeProcs(tt.cfg, tt.set)
			if got := runtime.GOMAXPROCS(0); got != tt.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tt.want)
			}
			if got := largeCores(0); got != max(1, base-1) {
				t.Errorf("largeCores(0) = %d after it, want %d (the cores before)", got, max(1, base-1))
			}
		})
	}
}
