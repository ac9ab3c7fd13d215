package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// Records is the API's view of the request records.
type Records interface {
	RequestRecorder
	RecordReader
	QueueCounter
	Get(ctx context.Context, n int64) (database.Record, error)
	Recompute(ctx context.Context, n int64, checksum, reason string, now time.Time) (database.Record, bool, error)
	List(ctx context.Context, q database.ListQuery) ([]database.Record, error)
	Cancel(ctx context.Context, n int64, now time.Time) (database.Record, bool, error)
}

// How long a request waits for the database and the cache before it answers 503 (the
// database) or goes on without (the cache).
const (
	dbWait    = time.Second
	cacheWait = 250 * time.Millisecond
)

// dbError classifies an error of the database: not found, not answering (503), or a fault.
func dbError(n int64, err error) error {
	switch {
	case errors.Is(err, database.ErrNotFound):
		return errNotFound
	case database.Unavailable(err):
		return &unavailableError{what: "the database", err: err}
	}
	return fmt.Errorf("record of %d: %w", n, err)
}

// ResultReader opens stored results.
type ResultReader interface {
	Open(ctx context.Context, key string) (objectstore.Reader, error)
}

// Cache holds finished results (done records and, when small, their digits).
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

var errNotFound = errors.New("never requested")

// results is the API's use cases: record requests, and read results through the cache.
type results struct {
	records   Records
	store     ResultReader
	cache     Cache
	batcher   *requestBatcher
	reader    *readBatcher
	writer    *cacheWriter
	admission *admission
	publisher *requestPublisher
	log       *slog.Logger
	cacheMax  int64 // results larger than this are not cached
	cacheTTL  time.Duration
	corrupt   *prometheus.CounterVec // stored results found not to match their record
	verified  *verifiedSet           // stored objects checked lately (see integrity.go)
	cacheWarn warnEvery
	hot       *hotCache // answers ready to write; nil when LOCAL_CACHE_BYTES=0
	metrics   *apiMetrics
	inlineMax int64 // INLINE_RESULT_MAX_BYTES
	presigns  bool  // the store hands out download URLs (made per request)
}

// result is a record and, when small enough to carry, its digits. It is what the cache holds.
type result struct {
	Record database.Record `json:"record"`
	Text   *string         `json:"text,omitempty"`
	Row    bool            `json:"row,omitempty"` // Record is the whole row (metadata can be served from it)
	// hot is the process's own cache entry it was read from, whose rendered answer is
	// written as it is; nil when it came from elsewhere. Never cached itself.
	hot *hotEntry
}

func cacheKey(n int64) string { return fmt.Sprintf("result:%d", n) }

// request records a request for n by client (with others that arrive at the same time, in
// one statement) and, when that made it pending, queues its publication. The record makes the
// request durable, and the answer does not wait for NATS: the request is published in the
// background, and if that fails the calculators' reconciler publishes it later.
//
// A request of the large lane goes through admission control first (admission.go).
func (r *results) request(ctx context.Context, n int64, client string) (database.Record, error) {
	if r.admission == nil || !r.admission.active() || events.LaneOf(n) != events.LaneLarge {
		return r.add(ctx, n, client)
	}
	var existing *database.Record
	switch rec, err := r.records.Get(ctx, n); {
	case err == nil:
		existing = &rec
	case !errors.Is(err, database.ErrNotFound):
		return database.Record{}, dbError(n, err)
	}
	return r.admission.admit(ctx, n, client, existing, func() (database.Record, error) { return r.add(ctx, n, client) })
}

// add records the request; when that made n pending, the batcher has queued its publication.
func (r *results) add(ctx context.Context, n int64, client string) (database.Record, error) {
	rec, _, err := r.batcher.request(ctx, n, client)
	if err != nil {
		return database.Record{}, dbError(n, err)
	}
	return rec, nil
}

// get returns what is known of n, with its digits when it is done and they are at most
// inlineMax bytes. Digits that do not match their record are not returned: the record goes
// back to be computed, and what it now is (pending) is returned instead.
func (r *results) get(ctx context.Context, n int64, inlineMax int64) (result, error) {
	if res, ok := r.cached(ctx, n); ok && (res.Text != nil || res.Record.Size > inlineMax) {
		r.remember(res)
		if res.Record.Size > inlineMax {
			res.Text = nil
		}
		return res, nil
	}
	rec, err := r.record(ctx, n)
	if err != nil {
		return result{}, err
	}
	res := result{Record: rec, Row: true}
	if rec.Status != database.StatusDone {
		return res, nil
	}
	if rec.Size <= inlineMax {
		text, err := r.readText(ctx, rec)
		var ce *corruptError
		if errors.As(err, &ce) {
			rec, err = r.recompute(ctx, rec, ce)
			return result{Record: rec}, err
		}
		if err != nil {
			return result{}, err
		}
		res.Text = &text
	}
	r.fill(ctx, res)
	return res, nil
}

// row returns the whole record of n: from the cache when it is done and cached whole, so the
// metadata of a finished result needs no database.
func (r *results) row(ctx context.Context, n int64) (database.Record, error) {
	if res, ok := r.cached(ctx, n); ok && res.Row {
		r.remember(res)
		return res.Record, nil
	}
	rec, err := r.record(ctx, n)
	if err == nil && rec.Status == database.StatusDone {
		r.fill(ctx, result{Record: rec, Row: true})
	}
	return rec, err
}

// record reads the record of n (with the reads of other requests at the same time, in one
// statement), waiting at most dbWait for the database.
func (r *results) record(ctx context.Context, n int64) (database.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, dbWait)
	defer cancel()
	rec, err := r.reader.get(ctx, n)
	if err != nil {
		return database.Record{}, dbError(n, err)
	}
	return rec, nil
}

func (r *results) cached(ctx context.Context, n int64) (result, bool) {
	ctx, cancel := context.WithTimeout(ctx, cacheWait)
	defer cancel()
	data, err := r.cache.Get(ctx, cacheKey(n))
	switch {
	case errors.Is(err, cache.ErrMiss):
		r.metrics.sharedMiss.Inc()
		return result{}, false
	case err != nil:
		r.metrics.sharedFailed.Inc()
		if !errors.Is(err, context.Canceled) {
			r.cacheWarn.warn(ctx, r.log, "cache get failed; reading the database instead", "number", n, "err", err)
		}
		return result{}, false
	}
	r.metrics.sharedHit.Inc()
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		r.log.WarnContext(ctx, "cache entry unreadable; ignoring it", "number", n, "err", err)
		return result{}, false
	}
	return res, true
}

// fill caches a done result; the digits only when they are small enough for the cache.
func (r *results) fill(ctx context.Context, res result) {
	if res.Record.Status != database.StatusDone {
		return
	}
	r.remember(res)
	if res.Record.Size > r.cacheMax {
		res.Text = nil
	}
	var (
		data []byte
		err  error
	)
	if res.Text != nil {
		data, err = marshalDigits(&res, &res.Text, "text", *res.Text)
	} else {
		data, err = json.Marshal(res)
	}
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheWait)
	defer cancel()
	if err := r.cache.Set(ctx, cacheKey(res.Record.Number), data, r.cacheTTL); err != nil {
		r.cacheWarn.warn(ctx, r.log, "cache set failed", "number", res.Record.Number, "err", err)
	}
}

// computed brings the cache in line with a factorial.computed event, so the first GET is a
// hit: from the event alone when it carries the digits, otherwise from the record and the
// stored digits (read once here).
//
// The shared cache is written behind the follower (writebehind.go); the process's own is
// filled at once when the event carries the digits.
func (r *results) computed(ctx context.Context, c events.Computed) {
	if c.Text != "" && c.CreatedAt != nil {
		text := c.Text
		at := c.ComputedAt.UTC()
		res := result{Record: database.Record{
			Number: c.Number, Status: database.StatusDone, Progress: 1, Key: c.Key, Bucket: c.Bucket,
			Checksum: c.Checksum, Size: c.Size, Digits: c.Digits, ComputeMS: c.ComputeMS,
			CreatedAt: c.CreatedAt.UTC(), UpdatedAt: at, ComputedAt: &at,
		}, Text: &text}
		r.remember(res)
		r.writer.do(ctx, c.Number, func(ctx context.Context) { r.fill(ctx, res) })
		return
	}
	r.writer.do(ctx, c.Number, func(ctx context.Context) { r.computedFromStore(ctx, c) })
}

// computedFromStore caches a computed result whose event does not carry the digits: the
// record and the stored digits are read once here.
func (r *results) computedFromStore(ctx context.Context, c events.Computed) {
	n := c.Number
	rec, err := r.records.Get(ctx, n)
	if err != nil || rec.Status != database.StatusDone {
		return
	}
	res := result{Record: rec}
	if rec.Size <= r.cacheMax {
		text, err := r.readText(ctx, rec)
		if err != nil {
			r.log.WarnContext(ctx, "read result for cache", "number", n, "err", err)
			return
		}
		res.Text = &text
	}
	r.fill(ctx, res)
}

// forgetBehind drops n from the process's cache at once and from the shared cache behind the
// follower, after what the follower wrote of n before (a factorial.failed event).
func (r *results) forgetBehind(ctx context.Context, n int64) {
	if r.hot != nil {
		r.hot.delete(n)
	}
	r.writer.do(ctx, n, func(ctx context.Context) { r.forget(ctx, n) })
}

// forget drops n from the cache, waiting for it at most cacheWait (as every cache call does:
// a cache that does not answer must not hold a request, or the write-behind lane, longer).
func (r *results) forget(ctx context.Context, n int64) {
	if r.hot != nil {
		r.hot.delete(n)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheWait)
	defer cancel()
	if err := r.cache.Delete(ctx, cacheKey(n)); err != nil {
		r.log.WarnContext(ctx, "cache delete", "number", n, "err", err)
	}
}

// readText reads the digits of a done record and checks them against it: a *corruptError
// when they do not match (or are gone), an *unavailableError when storage does not answer.
func (r *results) readText(ctx context.Context, rec database.Record) (string, error) {
	obj, err := r.openDigits(ctx, rec, nil)
	if err != nil {
		return "", err
	}
	defer obj.Close()
	data, err := checkAll(obj, rec)
	var ce *corruptError
	switch {
	case errors.As(err, &ce):
		return "", err
	case errors.Is(err, context.Canceled):
		return "", err
	case err != nil:
		return "", &unavailableError{what: "storage", err: err}
	}
	r.verified.add(rec, obj.Info())
	return string(data), nil
}

// openDigits opens the digits of a done record: the object of its key or, for a small result
// (empty key), the text of its row (read again when rec came from the cache without it). th,
// the headers of a result the process keeps in memory (or nil), saves fingerprinting that
// same text again.
func (r *results) openDigits(ctx context.Context, rec database.Record, th *textHeaders) (objectstore.Reader, error) {
	if rec.Key != "" {
		obj, err := r.store.Open(ctx, rec.Key)
		if err != nil {
			return nil, openError(err)
		}
		return obj, nil
	}
	if rec.Text == "" {
		full, err := r.record(ctx, rec.Number)
		if err != nil {
			return nil, err
		}
		if full.Key != "" || full.Checksum != rec.Checksum {
			return r.openDigits(ctx, full, nil)
		}
		rec = full
	}
	at := rec.UpdatedAt
	if rec.ComputedAt != nil {
		at = *rec.ComputedAt
	}
	etag := ""
	if th != nil && th.rowText == rec.Text { // the same string: compared by its pointer first
		etag = th.rowETag
	} else {
		etag = rowETag(rec.Text)
	}
	return &rowDigits{Reader: strings.NewReader(rec.Text), text: rec.Text, info: objectstore.Object{
		Size: int64(len(rec.Text)), ETag: etag, ModTime: at,
	}}, nil
}

// rowETag is the "ETag" of a row's digits: a fingerprint of the text itself (maphash: a few
// µs for 64 KiB, where SHA-256 takes tens), so the check of a text recorded in the verified
// set holds for that text only: digits read again from a row changed since do not pass as
// checked. A result kept in memory has its fingerprint made once (textHeaders).
func rowETag(text string) string {
	return `"row-` + strconv.FormatUint(maphash.String(rowSeed, text), 16) + `"`
}

// rowSeed seeds the fingerprints of rows' digits (openDigits).
var rowSeed = maphash.MakeSeed()

// rowDigits reads the digits kept in a database row, as an objectstore.Reader.
// progressWriter.ReadFrom writes them from the string itself (rest), not through a buffer.
type rowDigits struct {
	*strings.Reader
	text string
	info objectstore.Object
}

func (d *rowDigits) Info() objectstore.Object { return d.info }
func (*rowDigits) Close() error               { return nil }

// rest returns the next n bytes at most, and moves past them.
func (d *rowDigits) rest(n int64) string {
	off := d.Size() - int64(d.Len())
	n = min(n, int64(d.Len()))
	_, _ = d.Seek(n, io.SeekCurrent)
	return d.text[off : off+n]
}

// warnEvery logs a warning at most once every warnInterval, so a dependency that is down
// (the cache) does not log once per request.
type warnEvery struct {
	mu   sync.Mutex
	last time.Time
}

const warnInterval = 10 * time.Second

func (w *warnEvery) warn(ctx context.Context, log *slog.Logger, msg string, args ...any) {
	w.mu.Lock()
	now := time.Now()
	if now.Sub(w.last) < warnInterval {
		w.mu.Unlock()
		return
	}
	w.last = now
	w.mu.Unlock()
	log.WarnContext(ctx, msg, args...)
}
