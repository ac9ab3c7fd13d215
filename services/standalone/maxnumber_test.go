package standalone_test

import (
	"net/http"
	"strings"
	"testing"
)

// MAX_NUMBER limits what is computed, not what is served: after a restart with a lower
// MAX_NUMBER, a result stored before is still served (JSON, text, metadata, and a POST of it
// answers 200), while new numbers above it are refused.
func TestStoredResultsStayReadableWhenMaxNumberIsLowered(t *testing.T) {
	dir := t.TempDir()
	first := start(t, testConfig(t, dir), nil)
	first.post(1000)
	digits := first.waitDone(1000)["factorial_result"].(string)
	first.shutdown()

	cfg := testConfig(t, dir)
	cfg.API.MaxNumber, cfg.Calculator.MaxNumber = 100, 100
	second := start(t, cfg, nil)
	if r := second.get("/api/v1/factorial/1000"); r.status != http.StatusOK || r.json(t)["factorial_result"] != digits {
		t.Fatalf("JSON of a stored 1000! with MAX_NUMBER=100: %d", r.status)
	}
	if r := second.get("/api/v1/factorial/1000?format=text"); r.status != http.StatusOK || string(r.body) != digits {
		t.Fatalf("text of a stored 1000!: %d", r.status)
	}
	if r := second.get("/api/v1/factorial/metadata/1000"); r.status != http.StatusOK {
		t.Fatalf("metadata of a stored 1000!: %d", r.status)
	}
	if r := second.post(1000); r.status != http.StatusOK {
		t.Fatalf("POST of a stored 1000!: %d %s", r.status, r.body)
	}
	if r := second.post(1001); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "0 to 100") {
		t.Fatalf("POST of a new 1001: %d %s", r.status, r.body)
	}
	if r := second.get("/api/v1/factorial/1001"); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "up to 100") {
		t.Fatalf("GET of 1001 never requested: %d %s", r.status, r.body)
	}
}
