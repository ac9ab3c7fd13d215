package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each start-up error names the variable at fault, once, and nothing is logged before it.
func TestStartupErrorsNameTheVariable(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice:not-a-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  []string
		name string
	}{
		{[]string{"MAX_NUMBER=abc"}, "MAX_NUMBER"},
		{[]string{"DATA_DIR=/proc/nope/data"}, "DATA_DIR"},
		{[]string{"HTTP_ADDR=nonsense"}, "HTTP_ADDR"},
		{[]string{"LOG_LEVEL=loud"}, "LOG_LEVEL"},
		{[]string{"API_KEYS_FILE=" + keys}, "API_KEYS_FILE"},
		{[]string{"RATE_LIMIT_RPS=fast"}, "RATE_LIMIT_RPS"},
		{[]string{"HTTP_MAX_CONNECTIONS=0"}, "HTTP_MAX_CONNECTIONS"},
		{[]string{"DATABASE_URL=mysql://db/x"}, "DATABASE_URL"},
		{[]string{"STORAGE=floppy"}, "STORAGE"},
		{[]string{"EMBEDDED_NATS_ADDR=nonsense"}, "EMBEDDED_NATS_ADDR"},
		{[]string{"GC_HEADROOM_BYTES=-1"}, "GC_HEADROOM_BYTES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"DATA_DIR=" + t.TempDir(), "HTTP_ADDR=127.0.0.1:0"}, tt.env...)
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, env, &logs)
			if err == nil {
				t.Fatal("started")
			}
			if strings.Count(err.Error(), tt.name) != 1 {
				t.Errorf("error does not name %s once: %v", tt.name, err)
			}
			if logs.Len() > 0 {
				t.Errorf("logged before the error:\n%s", logs.String())
			}
		})
	}
}

// The OpenTelemetry variables are read from the process's environment (by the SDK): a bad
// endpoint is refused the same way, before anything is logged.
func TestStartupErrorNamesABadOTLPEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
	var logs bytes.Buffer
	err := run(context.Background(), []string{"DATA_DIR=" + t.TempDir(), "HTTP_ADDR=127.0.0.1:0"}, &logs)
	if err == nil || strings.Count(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") != 1 {
		t.Fatalf("err = %v, want one naming OTEL_EXPORTER_OTLP_ENDPOINT once", err)
	}
	if logs.Len() > 0 {
		t.Errorf("logged before the error:\n%s", logs.String())
	}
}

// A second process on the same DATA_DIR stops at start with one line saying so.
func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DATA_DIR=" + dir, "HTTP_ADDR=127.0.0.1:0", "EMBEDDED_NATS_ADDR=off", "LOG_LEVEL=error"}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- run(ctx, env, &bytes.Buffer{}) }()
	defer func() {
		cancel()
		if err := <-first; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("the first process: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "standalone.lock")); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first process did not take DATA_DIR")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var logs bytes.Buffer
	err := run(context.Background(), env, &logs)
	if err == nil || !strings.Contains(err.Error(), "DATA_DIR "+dir+" is in use by another standalone process (pid ") {
		t.Fatalf("second process on the same DATA_DIR: %v", err)
	}
	if logs.Len() > 0 {
		t.Errorf("logged before the error:\n%s", logs.String())
	}
}
