package standalone_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
)

// The SQLite file of the embedded profile held by another process's write transaction (an
// operator's bin/migrate, a backup tool, sqlite3 at the prompt): a POST answers 503
// problem+json with Retry-After within 2 s, never a 500 or a wait of SQLite's 10 s busy
// timeout; finished results are still served; and requests are taken again once the lock is
// let go.
func TestSQLiteLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	s := start(t, testConfig(t, dir), nil)
	s.post(5)
	want := s.waitDone(5)["factorial_result"]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := database.Open(ctx, filepath.Join(dir, "factorial.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil { // the write lock
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()

	for _, n := range []int64{6, 7} {
		start := time.Now()
		r := s.post(n)
		took := time.Since(start)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") || !strings.Contains(string(r.body), "database") {
			t.Fatalf("POST %d with the database locked: %d %v %s", n, r.status, r.header, r.body)
		}
		if took > 2*time.Second {
			t.Errorf("POST %d with the database locked answered after %v, want within 2 s", n, took)
		}
	}
	if r := s.get("/api/v1/factorial/5"); r.status != http.StatusOK || r.json(t)["factorial_result"] != want {
		t.Fatalf("5! with the database locked: %d %s", r.status, r.body)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := s.post(6)
		if r.status == http.StatusAccepted || r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST 6 once the lock is gone: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res := s.waitDone(6); res["factorial_result"] != "720" {
		t.Fatalf("6!: %v", res)
	}
	if r := s.get("/metrics"); strings.Contains(string(r.body), `code="500"`) {
		t.Error("a 500 was answered")
	}
}
