package api

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// The digits of a small result, kept in its row and in this process's memory, are written
// from the string itself (progressWriter.writeRow): whole, in one range or several, gzipped,
// and conditionally, as ServeContent of any other reader would, and the fingerprint of the
// text is made once, with the entry, not on every download.
func TestRowDigitsFromMemory(t *testing.T) {
	db := dbtest.SQLite(t)
	f := newFixture(t, func(_ *Config, d *Deps) { d.Records = database.NewFactorials(db) })
	f.records = database.NewFactorials(db)
	const n = 3000 // 9,131 digits: in the row
	ctx, now := context.Background(), time.Now()
	text := digits(n)
	if _, _, err := f.records.Request(ctx, n, now); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.records.Claim(ctx, n, "test", now, now); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	sum := sha256.Sum256([]byte(text))
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if _, err := f.records.Complete(ctx, n, "test", database.Result{
		Text: text, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)),
	}, now); err != nil {
		t.Fatal(err)
	}
	const target = "/api/v1/factorial/3000?format=text"
	if r := f.do(http.MethodGet, target, ""); r.status != http.StatusOK || r.body != text {
		t.Fatalf("first download: %d, %d bytes", r.status, len(r.body))
	}
	e := f.s.results.local(n)
	if e == nil || e.text == nil || e.text.rowText != text || e.text.rowETag != rowETag(text) {
		t.Fatal("the entry in memory does not hold the fingerprint of its digits")
	}

	t.Run("whole", func(t *testing.T) {
		r := f.do(http.MethodGet, target, "")
		if r.status != http.StatusOK || r.body != text || r.header.Get("Etag") != etag ||
			r.header.Get("Content-Length") != "9131" {
			t.Fatalf("got %d, %d bytes, ETag %q, Content-Length %q", r.status, len(r.body), r.header.Get("Etag"), r.header.Get("Content-Length"))
		}
	})
	t.Run("one range", func(t *testing.T) {
		r := f.do(http.MethodGet, target, "", "Range", "bytes=5000-5009")
		if r.status != http.StatusPartialContent || r.body != text[5000:5010] {
			t.Fatalf("got %d %q, want %q", r.status, r.body, text[5000:5010])
		}
	})
	t.Run("a suffix", func(t *testing.T) {
		r := f.do(http.MethodGet, target, "", "Range", "bytes=-7")
		if r.status != http.StatusPartialContent || r.body != text[len(text)-7:] {
			t.Fatalf("got %d %q", r.status, r.body)
		}
	})
	t.Run("several ranges", func(t *testing.T) {
		r := f.do(http.MethodGet, target, "", "Range", "bytes=10-19,4000-4099,9000-")
		_, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
		if r.status != http.StatusPartialContent || err != nil {
			t.Fatalf("got %d %q %v", r.status, r.header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
		for _, want := range []string{text[10:20], text[4000:4100], text[9000:]} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(p); string(got) != want {
				t.Fatalf("part %q: %d bytes, want %d", p.Header.Get("Content-Range"), len(got), len(want))
			}
		}
	})
	t.Run("gzip", func(t *testing.T) {
		r := f.do(http.MethodGet, target, "", "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); r.status != http.StatusOK || string(got) != text {
			t.Fatalf("got %d, %d bytes", r.status, len(got))
		}
	})
	t.Run("not modified", func(t *testing.T) {
		if r := f.do(http.MethodGet, target, "", "If-None-Match", etag); r.status != http.StatusNotModified || r.body != "" {
			t.Fatalf("got %d %q", r.status, r.body)
		}
	})
	t.Run("head", func(t *testing.T) {
		if r := f.do(http.MethodHead, target, ""); r.status != http.StatusOK || r.body != "" || r.header.Get("Content-Length") != "9131" {
			t.Fatalf("got %d %q", r.status, r.header.Get("Content-Length"))
		}
	})
}
