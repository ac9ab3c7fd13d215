package api

import (
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/config"
)

// MAX_NUMBER above what the engine computes (10^8) stops the API at start, as it stops the
// calculator: an API that accepted more would record requests no calculator can compute.
func TestMaxNumberIsBounded(t *testing.T) {
	var cfg Config
	if err := config.Load([]string{"MAX_NUMBER=100000000"}, &cfg); err != nil || cfg.MaxNumber != 100_000_000 {
		t.Fatalf("MAX_NUMBER=100000000: %v (%d)", err, cfg.MaxNumber)
	}
	for _, v := range []string{"100000001", "200000000", "-1"} {
		if err := config.Load([]string{"MAX_NUMBER=" + v}, &cfg); err == nil || !strings.Contains(err.Error(), "MAX_NUMBER") {
			t.Errorf("MAX_NUMBER=%s: %v, want an error naming MAX_NUMBER", v, err)
		}
	}
}
