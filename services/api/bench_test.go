package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/labstack/echo/v4"
)

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark measures the handler.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchGet(b *testing.B, h http.Handler, target string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkCachedGet: GET of a finished result and of its metadata, once cached, through the
// whole echo stack of the API (middleware included), beside a bare echo handler writing the
// same bytes. make bench-http reports the allocations per request from here.
func BenchmarkCachedGet(b *testing.B) {
	f := newFixture(b)
	f.done(100)
	json := f.do(http.MethodGet, "/api/v1/factorial/100", "")
	meta := f.do(http.MethodGet, "/api/v1/factorial/metadata/100", "")
	b.Run("api/json", func(b *testing.B) { benchGet(b, f.s.Handler(), "/api/v1/factorial/100") })
	b.Run("api/metadata", func(b *testing.B) { benchGet(b, f.s.Handler(), "/api/v1/factorial/metadata/100") })
	jsonBody, metaBody := []byte(json.body), []byte(meta.body)
	bare := echo.New()
	bare.GET("/json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, jsonBody) })
	bare.GET("/meta", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, metaBody) })
	b.Run("bare/json", func(b *testing.B) { benchGet(b, bare, "/json") })
	b.Run("bare/metadata", func(b *testing.B) { benchGet(b, bare, "/meta") })
}

// BenchmarkText: the text of 10000! from a local store, through the API's whole stack, beside
// http.ServeContent of the same bytes from a file.
func BenchmarkText(b *testing.B) {
	dir := b.TempDir()
	local, err := objectstore.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, func(_ *Config, d *Deps) { d.Store = local })
	text := digits(10000)
	ctx := context.Background()
	now := time.Now()
	_, _, _ = f.records.Request(ctx, 10000, now)
	_, _, _ = f.records.Claim(ctx, 10000, "w", now, now)
	if _, err := local.Put(ctx, "factorials/10000.txt", strings.NewReader(text)); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte(text))
	if _, err := f.records.Complete(ctx, 10000, "w", database.Result{Key: "factorials/10000.txt", Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text))}, now); err != nil {
		b.Fatal(err)
	}
	f.do(http.MethodGet, "/api/v1/factorial/10000?format=text", "")
	b.Run("api", func(b *testing.B) { benchGet(b, f.s.Handler(), "/api/v1/factorial/10000?format=text") })
	path := filepath.Join(dir, "factorials", "10000.txt")
	bare := echo.New()
	bare.GET("/text", func(c echo.Context) error {
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		fi, _ := fh.Stat()
		http.ServeContent(c.Response().Writer, c.Request(), "", fi.ModTime(), fh)
		return nil
	})
	b.Run("bare", func(b *testing.B) { benchGet(b, bare, "/text") })
}
