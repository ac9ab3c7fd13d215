package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// Stored digits are checked against their record (size and SHA-256) before they are served
// as the result. What does not match is never served and never cached: it is counted,
// logged, and the record goes back to pending and its request is published again, so the
// result is computed anew.
//
// JSON reads the whole text anyway and checks it before answering. A text download checks as
// it streams (ServeContent, gzip) and holds back the last holdBack bytes until the whole text
// has matched; if it does not, the response stops short of its Content-Length (or, gzipped,
// before its trailer) and the connection is closed, so every client sees an incomplete body,
// never a complete wrong one. An object checked once is trusted for verifiedFor (by its key,
// checksum and the store's ETag, which changes when the object is rewritten), so Range
// requests and repeated downloads cost no hashing. What cannot be checked on the way is checked
// whole before anything is answered, and gets the 202 of its recomputation when it does not
// match: a Range of an object not yet checked, a HEAD, and a text no longer than holdBack.

const (
	holdBack    = 64 << 10
	verifiedFor = 10 * time.Minute
)

// Why stored digits are not served.
const (
	corruptChecksum = "checksum" // the bytes do not match the recorded size or SHA-256
	corruptMissing  = "missing"  // the object the record names is gone
	corruptUnsafe   = "unsafe"   // the object is not a regular file inside the store (a planted link)
)

// corruptError says why stored digits cannot be served.
type corruptError struct {
	reason string
	err    error
}

func (e *corruptError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *corruptError) Unwrap() error { return e.err }

// openError classifies an error of the store's Open.
func openError(err error) error {
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		return &corruptError{reason: corruptMissing, err: err}
	case errors.Is(err, objectstore.ErrUnsafe), errors.Is(err, objectstore.ErrInvalidKey):
		return &corruptError{reason: corruptUnsafe, err: err}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &unavailableError{what: "storage", err: err}
}

func newCorruptCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "factorial_api_corrupt_results_total",
		Help: "Stored results not served because they do not match their record (reason: checksum, missing, unsafe); each is computed again.",
	}, []string{"reason"})
	reg.MustRegister(c)
	for _, r := range []string{corruptChecksum, corruptMissing, corruptUnsafe} {
		c.WithLabelValues(r)
	}
	return c
}

// recompute handles stored digits of rec found not to match it: count, log, drop from the
// cache, and send the record back to be computed (publishing its request when this call was
// the one that reset it). It returns the record as it now stands.
func (r *results) recompute(ctx context.Context, rec database.Record, cause *corruptError) (database.Record, error) {
	r.corrupt.WithLabelValues(cause.reason).Inc()
	r.log.ErrorContext(ctx, "stored result does not match its record: not served, computing it again",
		"number", rec.Number, "key", rec.Key, "reason", cause.reason, "err", cause.err)
	r.forget(ctx, rec.Number)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbWait)
	defer cancel()
	fresh, reset, err := r.records.Recompute(ctx, rec.Number, rec.Checksum,
		"the stored result did not match its checksum ("+cause.reason+"); computing it again", time.Now().UTC())
	if err != nil {
		return database.Record{}, dbError(rec.Number, err)
	}
	if reset {
		r.publisher.enqueue(ctx, fresh)
	}
	return fresh, nil
}

// checkAll reads obj whole and checks it against rec.
func checkAll(obj io.Reader, rec database.Record) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(obj, rec.Size+1))
	if err != nil {
		return nil, err
	}
	if err := matches(data, rec); err != nil {
		return nil, err
	}
	return data, nil
}

// checkWhole reads obj to its end and checks it against rec, keeping none of it (an object
// may be 65 MB).
func checkWhole(obj io.Reader, rec database.Record) error {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(obj, rec.Size+1))
	if err != nil {
		return err
	}
	if n != rec.Size {
		return &corruptError{reason: corruptChecksum, err: fmt.Errorf("%d bytes, the record says %d", n, rec.Size)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.Checksum {
		return &corruptError{reason: corruptChecksum, err: fmt.Errorf("SHA-256 %s, the record says %s", got, rec.Checksum)}
	}
	return nil
}

// matches checks data against the record's size and checksum.
func matches(data []byte, rec database.Record) error {
	if int64(len(data)) != rec.Size {
		return &corruptError{reason: corruptChecksum, err: fmt.Errorf("%d bytes, the record says %d", len(data), rec.Size)}
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != rec.Checksum {
		return &corruptError{reason: corruptChecksum, err: fmt.Errorf("SHA-256 %s, the record says %s", got, rec.Checksum)}
	}
	return nil
}

// verifyingReader reads an object of a known size, hashing what it reads and holding back its
// last holdBack bytes until all of it has been read and matched the checksum. It is what a
// text download reads from; seeks are passed on (http.ServeContent finds the size with them)
// but reading must start at 0.
type verifyingReader struct {
	src     io.ReadSeeker
	size    int64
	want    string
	h       hash.Hash
	read    int64  // bytes read from src
	held    []byte // read, not yet given out
	checked bool   // all read and matched: give out the rest
	err     error  // sticky
}

func newVerifyingReader(src io.ReadSeeker, rec database.Record) *verifyingReader {
	return &verifyingReader{src: src, size: rec.Size, want: rec.Checksum, h: sha256.New()}
}

func (v *verifyingReader) Seek(offset int64, whence int) (int64, error) {
	if v.read > 0 {
		return 0, errors.New("verifying reader: seek after read")
	}
	return v.src.Seek(offset, whence)
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	for {
		if v.err != nil {
			return 0, v.err
		}
		if free := len(v.held) - holdBack; v.checked || free > 0 {
			if v.checked {
				free = len(v.held)
			}
			if free == 0 {
				return 0, io.EOF
			}
			n := copy(p, v.held[:free])
			v.held = v.held[n:]
			return n, nil
		}
		v.fill()
	}
}

// fill reads the next piece of src, and checks the whole once all of it is read.
func (v *verifyingReader) fill() {
	if v.read >= v.size {
		v.finish()
		return
	}
	if cap(v.held)-len(v.held) < 32<<10 {
		grown := make([]byte, len(v.held), len(v.held)+holdBack+64<<10)
		copy(grown, v.held)
		v.held = grown
	}
	buf := v.held[len(v.held):cap(v.held)]
	buf = buf[:min(int64(len(buf)), v.size-v.read)]
	n, err := v.src.Read(buf)
	v.h.Write(buf[:n])
	v.held = v.held[:len(v.held)+n]
	v.read += int64(n)
	switch {
	case v.read >= v.size:
		v.finish()
	case errors.Is(err, io.EOF):
		v.err = &corruptError{reason: corruptChecksum, err: fmt.Errorf("%d bytes, the record says %d", v.read, v.size)}
	case err != nil:
		v.err = err
	}
}

func (v *verifyingReader) finish() {
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		v.err = &corruptError{reason: corruptChecksum, err: fmt.Errorf("SHA-256 %s, the record says %s", got, v.want)}
		return
	}
	v.checked = true
}

// corrupt is the corruption the reader found, if any.
func (v *verifyingReader) corrupt() *corruptError {
	var ce *corruptError
	if errors.As(v.err, &ce) {
		return ce
	}
	return nil
}
