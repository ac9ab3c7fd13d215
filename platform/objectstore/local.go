package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

var _ Store = (*Local)(nil)

// Local is a Store on a local directory: the key "a/b.txt" is the file dir/a/b.txt.
// Put writes a temporary file next to the target, syncs it and renames it into place, so
// readers never see a partial object and a crash leaves at worst a stray ".*.tmp-*" file.
type Local struct {
	dir string
}

// NewLocal returns a store rooted at dir, creating the directory if needed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("objectstore: local: directory is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objectstore: local: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objectstore: local: create directory: %w", err)
	}
	return &Local{dir: abs}, nil
}

// Dir returns the absolute root directory of the store.
func (l *Local) Dir() string { return l.dir }

// Bucket returns "": a local store has no bucket.
func (l *Local) Bucket() string { return "" }

// path maps a key to its file, refusing keys that would escape the root.
func (l *Local) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w %q: escapes the store directory", ErrInvalidKey, key)
	}
	return filepath.Join(l.dir, rel), nil
}

// Put streams r into a temporary file beside the target, then syncs and renames it.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (obj Object, err error) {
	p, err := l.path(key)
	if err != nil {
		return Object{}, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("objectstore: put %q: %w", key, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Object{}, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return Object{}, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return Object{}, err
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(f, ctxReader{ctx, r}, buf); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	if err := f.Sync(); err != nil {
		return Object{}, err
	}
	if err := f.Close(); err != nil {
		return Object{}, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return Object{}, err
	}
	if err := syncDir(dir); err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Object{}, err
	}
	return localObject(key, fi), nil
}

// Open opens the file of key for reading.
func (l *Local) Open(ctx context.Context, key string) (Reader, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("objectstore: open %q: %w", key, ErrNotFound)
	}
	return &localReader{ctx: ctx, f: f, info: localObject(key, fi)}, nil
}

// Delete removes the file of key; an absent key (or a key naming a directory) is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objectstore: delete %q: %w", key, err)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objectstore: delete %q: %w", key, err)
	}
	return nil
}

// Ping checks that the root directory still exists.
func (l *Local) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objectstore: ping: %w", err)
	}
	fi, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("objectstore: ping: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("objectstore: ping: %s is not a directory", l.dir)
	}
	return nil
}

// localObject describes a file; its ETag hashes size and modification time, which change
// whenever Put replaces the file.
func localObject(key string, fi fs.FileInfo) Object {
	h := sha256.Sum256([]byte(strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)))
	return Object{
		Key:     key,
		Size:    fi.Size(),
		ETag:    `"` + hex.EncodeToString(h[:8]) + `"`,
		ModTime: fi.ModTime().UTC(),
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// localReader reads an open file; Seek is an lseek and does no disk I/O.
type localReader struct {
	ctx  context.Context
	f    *os.File
	info Object
}

func (r *localReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.Read(p)
}

func (r *localReader) Seek(offset int64, whence int) (int64, error) {
	return r.f.Seek(offset, whence)
}

func (r *localReader) Close() error { return r.f.Close() }
func (r *localReader) Info() Object { return r.info }
