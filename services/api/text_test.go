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

// A gzipped download answers the conditional headers as the identity one does (RFC 9110
// 13.2.2, which http.ServeContent follows): If-Match and If-Unmodified-Since that fail are a
// 412, If-None-Match (`*`, weak or in a list) and If-Modified-Since that hold are a 304.
// Go's client and browsers ask for gzip by default, so these are the answers most clients get.
func TestGzipHonoursPreconditions(t *testing.T) {
	f := newFixture(t)
	text := f.done(25)
	sum := sha256.Sum256([]byte(text))
	gz := `"` + hex.EncodeToString(sum[:]) + `-gzip"`
	const target = "/api/v1/factorial/25?format=text"
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, tt := range []struct {
		name   string
		header []string
		status int
	}{
		{"If-Match another", []string{"If-Match", `"nope"`}, http.StatusPreconditionFailed},
		{"If-Match it", []string{"If-Match", gz}, http.StatusOK},
		{"If-Match it in a list", []string{"If-Match", `"nope", ` + gz}, http.StatusOK},
		{"If-Match weak", []string{"If-Match", "W/" + gz}, http.StatusPreconditionFailed},
		{"If-Match *", []string{"If-Match", "*"}, http.StatusOK},
		{"If-Unmodified-Since before", []string{"If-Unmodified-Since", past}, http.StatusPreconditionFailed},
		{"If-Unmodified-Since after", []string{"If-Unmodified-Since", future}, http.StatusOK},
		{"If-None-Match it", []string{"If-None-Match", gz}, http.StatusNotModified},
		{"If-None-Match weak", []string{"If-None-Match", "W/" + gz}, http.StatusNotModified},
		{"If-None-Match *", []string{"If-None-Match", "*"}, http.StatusNotModified},
		{"If-None-Match another", []string{"If-None-Match", `"nope"`}, http.StatusOK},
		{"If-None-Match the identity's", []string{"If-None-Match", `"` + hex.EncodeToString(sum[:]) + `"`}, http.StatusOK},
		{"If-Modified-Since after", []string{"If-Modified-Since", future}, http.StatusNotModified},
		{"If-Modified-Since before", []string{"If-Modified-Since", past}, http.StatusOK},
		{"If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `"nope"`, "If-Modified-Since", future}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(http.MethodGet, target, "", append([]string{"Accept-Encoding", "gzip"}, tt.header...)...)
			if r.status != tt.status {
				t.Fatalf("got %d, want %d: %.200s", r.status, tt.status, r.body)
			}
			switch r.status {
			case http.StatusPreconditionFailed:
				problemOf(t, r, http.StatusPreconditionFailed)
			case http.StatusNotModified:
				if r.body != "" || r.header.Get("Etag") != gz {
					t.Fatalf("304 with %d bytes, ETag %q", len(r.body), r.header.Get("Etag"))
				}
			case http.StatusOK:
				if r.header.Get("Content-Encoding") != "gzip" || r.header.Get("Etag") != gz {
					t.Fatalf("200 with Content-Encoding %q, ETag %q", r.header.Get("Content-Encoding"), r.header.Get("Etag"))
				}
			}
		})
	}
}
