package api

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/database"
)

// corrupt replaces the stored digits of n with text of the same length but one digit changed.
func (f *fixture) corrupt(n int64, text string) {
	f.t.Helper()
	i := len(text) / 2
	bad := []byte(text)
	bad[i] = '0' + (bad[i]-'0'+1)%10
	if _, err := f.store.Put(context.Background(), fmt.Sprintf("factorials/%d.txt", n), strings.NewReader(string(bad))); err != nil {
		f.t.Fatal(err)
	}
}

// sentBack checks that n's record went back to pending with the reason, its request was
// queued for publication, and nothing of it is cached.
func (f *fixture) sentBack(n int64, published int) {
	f.t.Helper()
	rec, err := f.records.Get(context.Background(), n)
	if err != nil {
		f.t.Fatal(err)
	}
	if rec.Status != database.StatusPending || !strings.Contains(rec.Error, "did not match its checksum") {
		f.t.Fatalf("record not sent back to be computed: %+v", rec)
	}
	if got := len(f.s.publisher.queue); got != published {
		f.t.Fatalf("%d requests queued for publication, want %d", got, published)
	}
	if _, err := f.s.results.cache.Get(context.Background(), cacheKey(n)); !errors.Is(err, cache.ErrMiss) {
		f.t.Fatalf("n=%d is still cached after its digits were found corrupt (err %v)", n, err)
	}
}

// Digits that do not match their record are never served, as JSON or text, whole, in part
// or gzipped: they are counted, and the record goes back to be computed.
func TestCorruptResultsAreNotServed(t *testing.T) {
	f := newFixture(t)
	const counted = `factorial_api_corrupt_results_total{reason="checksum"}`

	t.Run("JSON answers 202 and sends it back", func(t *testing.T) {
		text := f.done(300)
		f.corrupt(300, text)
		r := f.do(http.MethodGet, "/api/v1/factorial/300", "")
		if r.status != http.StatusAccepted || strings.Contains(r.body, text[:50]) {
			t.Fatalf("got %d %.120s", r.status, r.body)
		}
		f.sentBack(300, 1)
		if got := f.metric(counted); got != "1" {
			t.Fatalf("%s = %q, want 1", counted, got)
		}
	})

	t.Run("a text download is cut short before its last bytes", func(t *testing.T) {
		text := f.done(20000) // 77,338 digits: more than what is held back
		f.corrupt(20000, text)
		resp, err := f.client.Get(f.srv.URL + "/api/v1/factorial/20000?format=text")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(text)) {
			t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		if err == nil || len(body) >= len(text) {
			t.Fatalf("the corrupt download completed: %d of %d bytes, err %v", len(body), len(text), err)
		}
		f.sentBack(20000, 2)
	})

	t.Run("a gzipped download is cut before its trailer", func(t *testing.T) {
		text := f.done(20001)
		f.corrupt(20001, text)
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/factorial/20001?format=text", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		// Little of it is sent before the end is reached and found wrong, so the client may see
		// the cut before the headers or in the body: an error either way.
		resp, err := f.client.Do(req)
		if err == nil {
			defer resp.Body.Close()
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(resp.Body); err == nil {
				_, err = io.ReadAll(zr)
			}
		}
		if err == nil {
			t.Fatal("the corrupt gzip download completed")
		}
		f.sentBack(20001, 3)
	})

	// The 202 of a result sent back is the JSON of the pending record: none of the text's
	// headers (its ETag, a year's immutable Cache-Control) that would let a cache keep it.
	isSentBack := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != http.StatusAccepted || r.header.Get("Content-Type") != "application/json" ||
			r.header.Get("Etag") != "" || strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Fatalf("got %d %v %.100s", r.status, r.header, r.body)
		}
	}

	t.Run("a range of an object not yet checked is checked whole first", func(t *testing.T) {
		text := f.done(20003)
		f.corrupt(20003, text)
		isSentBack(t, f.do(http.MethodGet, "/api/v1/factorial/20003?format=text", "", "Range", "bytes=0-9"))
		f.sentBack(20003, 4)
	})

	t.Run("a HEAD of an object not yet checked checks it", func(t *testing.T) {
		for i, h := range [][]string{nil, {"Range", "bytes=0-9"}, {"Accept-Encoding", "gzip"}} {
			n := int64(20004 + i)
			text := f.done(n)
			f.corrupt(n, text)
			isSentBack(t, f.do(http.MethodHead, fmt.Sprintf("/api/v1/factorial/%d?format=text", n), "", h...))
			f.sentBack(n, 5+i)
		}
	})

	t.Run("a text no longer than what is held back is checked before the answer", func(t *testing.T) {
		for i, h := range [][]string{nil, {"Accept-Encoding", "gzip"}} {
			n := int64(400 + i) // 869 digits
			text := f.done(n)
			f.corrupt(n, text)
			isSentBack(t, f.do(http.MethodGet, fmt.Sprintf("/api/v1/factorial/%d?format=text", n), "", h...))
			f.sentBack(n, 8+i)
		}
	})

	t.Run("a missing object is sent back too", func(t *testing.T) {
		f.done(500)
		if err := f.store.Delete(context.Background(), "factorials/500.txt"); err != nil {
			t.Fatal(err)
		}
		if r := f.do(http.MethodGet, "/api/v1/factorial/500?format=text", ""); r.status != http.StatusAccepted {
			t.Fatalf("got %d %.100s", r.status, r.body)
		}
		f.sentBack(500, 10)
		if got := f.metric(`factorial_api_corrupt_results_total{reason="missing"}`); got != "1" {
			t.Fatalf("missing counted %q", got)
		}
	})

	t.Run("sound digits are served whole, then from the checked set", func(t *testing.T) {
		text := f.done(20002)
		for range 2 {
			if r := f.do(http.MethodGet, "/api/v1/factorial/20002?format=text", ""); r.status != http.StatusOK || r.body != text {
				t.Fatalf("got %d, %d bytes", r.status, len(r.body))
			}
		}
		if r := f.do(http.MethodGet, "/api/v1/factorial/20002?format=text", "", "Range", "bytes=5-9"); r.body != text[5:10] {
			t.Fatalf("range: %q", r.body)
		}
		if got := f.metric(counted); got != "9" {
			t.Fatalf("%s = %q, want still 9", counted, got)
		}
	})
}

// A POST of a number done whose digits turn out corrupt sends it back to be computed, and is
// answered as a request waiting for its result: 202 with its Location, not 200 pending.
func TestPostOfCorruptResultAnswersPending(t *testing.T) {
	f := newFixture(t)
	text := f.done(300)
	f.corrupt(300, text)
	r := f.do(http.MethodPost, "/api/v1/factorial", `{"number": 300}`, "Content-Type", "application/json")
	if r.status != http.StatusAccepted || r.header.Get("Location") != "/api/v1/factorial/300" ||
		!strings.Contains(r.body, `"status":"pending"`) || strings.Contains(r.body, text[:50]) {
		t.Fatalf("got %d Location %q %.120s, want 202 pending with its Location", r.status, r.header.Get("Location"), r.body)
	}
	f.sentBack(300, 1)
}

// Digits kept in the database row (a small result, result_text) are held to their checksum
// as an object's are: a row whose text no longer matches is never served, as JSON or text,
// even once its metadata has been read (which keeps the row in the process's cache); it is
// counted, dropped from the cache, and computed again.
func TestCorruptRowDigitsAreNotServed(t *testing.T) {
	db := dbtest.SQLite(t)
	f := newFixture(t, func(_ *Config, d *Deps) { d.Records = database.NewFactorials(db) })
	f.records = database.NewFactorials(db)
	const counted = `factorial_api_corrupt_results_total{reason="checksum"}`
	inRow := func(n int64) string {
		t.Helper()
		ctx, now := context.Background(), time.Now()
		text := digits(n)
		if _, _, err := f.records.Request(ctx, n, now); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.records.Claim(ctx, n, "test", now, now); err != nil || !ok {
			t.Fatalf("claim %d: %v %v", n, ok, err)
		}
		sum := sha256.Sum256([]byte(text))
		if _, err := f.records.Complete(ctx, n, "test", database.Result{
			Text: text, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)),
		}, now); err != nil {
			t.Fatal(err)
		}
		// One digit changed in the row, as a bad disk or a stray UPDATE would.
		bad := []byte(text)
		bad[len(bad)/2] = '0' + (bad[len(bad)/2]-'0'+1)%10
		if _, err := db.NewRaw(`UPDATE factorials SET result_text = ? WHERE number = ?`, string(bad), n).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		return text
	}

	t.Run("JSON answers 202 and sends it back", func(t *testing.T) {
		text := inRow(600)
		if r := f.do(http.MethodGet, "/api/v1/factorial/metadata/600", ""); r.status != http.StatusOK {
			t.Fatalf("metadata: %d %s", r.status, r.body)
		}
		r := f.do(http.MethodGet, "/api/v1/factorial/600", "")
		if r.status != http.StatusAccepted || strings.Contains(r.body, text[:40]) || strings.Contains(r.body, text[len(text)-40:]) {
			t.Fatalf("got %d %.120s", r.status, r.body)
		}
		f.sentBack(600, 1)
		if got := f.metric(counted); got != "1" {
			t.Fatalf("%s = %q, want 1", counted, got)
		}
	})

	t.Run("a row changed after its digits were checked is checked again", func(t *testing.T) {
		// No cache of this process's own (LOCAL_CACHE_BYTES=0, or its entry evicted): a text
		// download reads the row again each time. Its digits were checked once, then changed;
		// the check of the old text must not pass the new one as checked.
		db := dbtest.SQLite(t)
		g := newFixture(t, func(c *Config, d *Deps) { d.Records = database.NewFactorials(db); c.LocalCacheBytes = 0 })
		g.records = database.NewFactorials(db)
		ctx, now := context.Background(), time.Now()
		text := digits(800)
		if _, _, err := g.records.Request(ctx, 800, now); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := g.records.Claim(ctx, 800, "test", now, now); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		sum := sha256.Sum256([]byte(text))
		if _, err := g.records.Complete(ctx, 800, "test", database.Result{
			Text: text, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)),
		}, now); err != nil {
			t.Fatal(err)
		}
		if r := g.do(http.MethodGet, "/api/v1/factorial/800?format=text", ""); r.status != http.StatusOK || r.body != text {
			t.Fatalf("sound digits: %d, %d bytes", r.status, len(r.body))
		}
		bad := []byte(text)
		bad[len(bad)/2] = '0' + (bad[len(bad)/2]-'0'+1)%10
		if _, err := db.NewRaw(`UPDATE factorials SET result_text = ? WHERE number = ?`, string(bad), 800).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		r := g.do(http.MethodGet, "/api/v1/factorial/800?format=text", "")
		if r.status != http.StatusAccepted || strings.Contains(r.body, text[:40]) || strings.Contains(r.body, string(bad[:40])) {
			t.Fatalf("got %d %.120s", r.status, r.body)
		}
		if got := g.metric(counted); got != "1" {
			t.Fatalf("%s = %q, want 1", counted, got)
		}
	})

	t.Run("a text download answers 202 and sends it back", func(t *testing.T) {
		text := inRow(700)
		if r := f.do(http.MethodGet, "/api/v1/factorial/metadata/700", ""); r.status != http.StatusOK {
			t.Fatalf("metadata: %d %s", r.status, r.body)
		}
		r := f.do(http.MethodGet, "/api/v1/factorial/700?format=text", "")
		if r.status != http.StatusAccepted || strings.Contains(r.body, text[:40]) {
			t.Fatalf("got %d %.120s", r.status, r.body)
		}
		f.sentBack(700, 2)
	})
}
