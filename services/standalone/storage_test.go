package standalone_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/services/calculator"
)

// A result whose file in the local store is replaced by a symbolic link (to a file outside
// the store) is never served: the link is refused, counted and logged, and the number is
// computed again, after which the right digits are served.
func TestPlantedSymlinkIsNotServed(t *testing.T) {
	dir := t.TempDir()
	s := start(t, testConfig(t, dir), nil)
	const n = 20000 // large enough to be stored as an object
	s.post(n)
	want := s.waitDone(n)["checksum"].(string)

	secret := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(secret, []byte("secret-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "objects", filepath.FromSlash(calculator.ResultKey(n)))
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, file); err != nil {
		t.Fatal(err)
	}
	r := s.get(fmt.Sprintf("/api/v1/factorial/%d?format=text", n))
	if strings.Contains(string(r.body), "secret-host") || r.status == http.StatusOK {
		t.Fatalf("the link was followed: %d %q", r.status, r.body)
	}
	if m := s.get("/metrics"); !strings.Contains(string(m.body), `factorial_api_corrupt_results_total{reason="unsafe"} 1`) {
		t.Error("the refused link is not counted")
	}
	if res := s.waitDone(n); res["checksum"] != want {
		t.Fatalf("recomputed with checksum %v, want %s", res["checksum"], want)
	}
	text := s.get(fmt.Sprintf("/api/v1/factorial/%d?format=text", n))
	if text.status != http.StatusOK || sha(text.body) != want {
		t.Fatalf("after the recomputation: %d, %d bytes", text.status, len(text.body))
	}
	if got, _ := os.ReadFile(secret); string(got) != "secret-host\n" {
		t.Fatal("the link's target was written")
	}
}
