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
}
