// Package objectstore stores the decimal text of finished factorials: large objects (tens of
// megabytes) written as they are produced and read back with cheap seeks, on S3 or an
// S3-compatible store, on local disk, or in memory.
//
// Every implementation keeps the same promises, checked by one contract suite:
//   - Put streams its reader to the end and is atomic: a reader of the key sees the old object
//     or the new one, never a part; if the reader or ctx fails, nothing is stored.
//   - Open returns ErrNotFound (wrapped) for an absent key, and a Reader whose Seek does no I/O,
//     so http.ServeContent can answer Range requests.
//   - Delete of an absent key succeeds.
//
// Consumers declare the narrow interface they need (a ResultWriter with Put, a ResultReader
// with Open) and are handed one of the concrete types built by Open.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) by Open when the key does not exist.
var ErrNotFound = errors.New("object not found")

// ErrUnsafe is returned (wrapped) by Open when what the key names is not a regular file of
// the store's own (a symbolic link planted in a local store, a device, a directory): it is
// refused, never followed or read.
var ErrUnsafe = errors.New("object is not a regular file of the store")

// ErrNoAnswer: the store did not answer a read in time (see S3's bounds): it is down,
// cut off or overloaded, not the object that is at fault.
var ErrNoAnswer = errors.New("the store did not answer in time")

// ErrInvalidKey is returned (wrapped) for a key that is empty, absolute, or has an empty, "."
// or ".." segment. Keys are slash-separated paths relative to the store's root.
var ErrInvalidKey = errors.New("invalid object key")

// Object describes one stored object.
type Object struct {
	Key     string
	Bucket  string // S3 bucket; "" for local and memory
	Size    int64
	ETag    string // quoted, as in an HTTP ETag header
	ModTime time.Time
}

// Store is the full set of operations every implementation provides.
type Store interface {
	// Put streams r to the end and stores it under key, replacing any previous object
	// atomically. If r or ctx fails, nothing is stored and any previous object remains.
	Put(ctx context.Context, key string, r io.Reader) (Object, error)
	// Open returns a Reader of the object, or an error wrapping ErrNotFound.
	Open(ctx context.Context, key string) (Reader, error)
	// Delete removes the object; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Bucket is the S3 bucket, "" for local and memory stores.
	Bucket() string
	// Ping reports whether the store is reachable, for readiness checks.
	Ping(ctx context.Context) error
}

// Reader reads one object. Seek is cheap (no I/O), so http.ServeContent can serve Range
// requests from it. Reads fail once the ctx given to Open is done, and, from a store across
// the network, with ErrNoAnswer when it stops answering.
type Reader interface {
	io.ReadSeekCloser
	Info() Object
}

// Presigner is implemented by stores that can hand out a direct, time-limited download URL.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// ValidateKey reports whether key is acceptable to every store: a non-empty, relative,
// slash-separated path without empty, "." or ".." segments or NUL bytes.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.ContainsRune(key, 0) || strings.ContainsRune(key, '\\') {
		return fmt.Errorf("%w %q: contains NUL or backslash", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: absolute", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "", ".", "..":
			return fmt.Errorf("%w %q: empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// ctxReader fails reads once ctx is done, so a long copy stops soon after cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// seekOffset computes the new offset of a Seek on an object of the given size.
func seekOffset(cur, size, offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = cur + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return cur, fmt.Errorf("objectstore: seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return cur, fmt.Errorf("objectstore: seek: negative position %d", abs)
	}
	return abs, nil
}
