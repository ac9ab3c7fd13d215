package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/health"
)

// /readyz names each failing check with a short reason and nothing of the error itself (no
// absolute path, SQL or Go error text), which goes to the log instead.
func TestReadyzShowsReasonsNotErrors(t *testing.T) {
	var logs bytes.Buffer
	e := echo.New()
	health.Mount(e, health.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)),
		health.Check{Name: "ok", Ping: func(context.Context) error { return nil }},
		health.Check{Name: "storage", Ping: func(context.Context) error {
			return errors.New("objectstore: ping: stat /srv/secret/data/objects: no such file or directory")
		}},
		health.Check{Name: "database", Ping: func(context.Context) error {
			return fmt.Errorf(`SELECT 1 FROM "factorials": %w`, context.DeadlineExceeded)
		}},
		health.Check{Name: "stream", Ping: func(context.Context) error {
			return fmt.Errorf("stream FACTORIAL at nats://10.0.0.7:4222: %w", health.Reason("stream missing"))
		}},
	)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ok": "ok", "storage": "unavailable", "database": "timed out", "stream": "stream missing"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (body %s)", k, got[k], v, rec.Body)
		}
	}
	for _, leak := range []string{"/srv", "SELECT", "10.0.0.7", "no such file"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("body shows %q: %s", leak, rec.Body)
		}
		if !strings.Contains(logs.String(), leak) {
			t.Errorf("log lacks %q: %s", leak, logs.String())
		}
	}
	head := httptest.NewRecorder()
	e.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/healthz", nil))
	if head.Code != http.StatusOK {
		t.Errorf("HEAD /healthz: %d", head.Code)
	}
}

// A dependency that does not answer takes its own time, not the others': with the database
// black-holed, /readyz said the object store "timed out" too, because the checks ran one after
// another on one budget and the database's used it up.
func TestReadyzBlamesOnlyWhatDoesNotAnswer(t *testing.T) {
	e := echo.New()
	health.Mount(e, health.NewRegistry(), slog.New(slog.DiscardHandler),
		health.Check{Name: "database", Ping: func(ctx context.Context) error {
			<-ctx.Done() // black-holed
			return ctx.Err()
		}},
		health.Check{Name: "storage", Ping: func(ctx context.Context) error { return ctx.Err() }},
	)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || got["database"] != "timed out" || got["storage"] != "ok" {
		t.Fatalf("%d %v, want 503 with the database timed out and the storage ok", rec.Code, got)
	}
}
