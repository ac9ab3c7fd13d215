package objectstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var _ Store = (*Local)(nil)

// Local is a Store on a local directory: the key "a/b.txt" is the file dir/a/b.txt.
// Put writes a temporary file next to the target, syncs it and renames it into place, so
// readers never see a partial object and a crash leaves at worst a stray ".*.tmp-*" file.
//
// Every file operation goes through an os.Root of the directory, so no key, ".." or symbolic
// link leads outside it; and Open refuses (ErrUnsafe) anything that is not a regular file,
// symbolic links inside the directory included: an object is only ever a file Put wrote.
type Local struct {
	dir   string
	root  *os.Root
	dirfd *os.File // the directory, for openat2 (local_linux.go)
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
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("objectstore: local: %w", err)
	}
	dirfd, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("objectstore: local: %w", err)
	}
	return &Local{dir: abs, root: root, dirfd: dirfd}, nil
}

// Dir returns the absolute root directory of the store.
func (l *Local) Dir() string { return l.dir }

// Bucket returns "": a local store has no bucket.
func (l *Local) Bucket() string { return "" }

// path maps a key to its path inside the root, refusing keys that would leave it.
func (l *Local) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w %q: escapes the store directory", ErrInvalidKey, key)
	}
	return rel, nil
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
	if err := l.root.MkdirAll(dir, 0o755); err != nil {
		return Object{}, err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(p)+".tmp-"+randomSuffix())
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Object{}, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = l.root.Remove(tmp)
		}
	}()
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
	if err := l.root.Rename(tmp, p); err != nil { // replaces whatever was there, a planted link included
		return Object{}, err
	}
	if err := l.syncDir(dir); err != nil {
		return Object{}, err
	}
	fi, err := l.root.Lstat(p)
	if err != nil {
		return Object{}, err
	}
	return localObject(key, fi), nil
}

// Open opens the file of key for reading. Anything but a regular file reached without any
// symbolic link (a link, a directory, a device) is refused with ErrUnsafe and never read.
func (l *Local) Open(ctx context.Context, key string) (Reader, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	f, fi, err := l.openRegular(p)
	if err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	return &localReader{ctx: ctx, f: f, info: localObject(key, fi)}, nil
}

// openRegular opens p for reading when it is a regular file that no symbolic link leads to:
// in one openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS where the kernel has it
// (openRegularFast), else through the root, checking the last name is not a link.
func (l *Local) openRegular(p string) (*os.File, fs.FileInfo, error) {
	f, err := l.openRegularFast(p)
	if errors.Is(err, errNoOpenat2) {
		f, err = l.openRegularRoot(p)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w (%s)", ErrUnsafe, fi.Mode().Type())
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// openRegularRoot opens p through the root (no way out of it), and refuses a last name that is
// a symbolic link inside it, which the root would follow.
func (l *Local) openRegularRoot(p string) (*os.File, error) {
	linfo, err := l.root.Lstat(p)
	if err != nil {
		return nil, l.classify(err)
	}
	if !linfo.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrUnsafe, linfo.Mode().Type())
	}
	f, err := l.root.Open(p)
	if err != nil {
		return nil, l.classify(err)
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(linfo, fi) {
		// Swapped between the check and the open: whatever it is now, it was not checked.
		err = fmt.Errorf("%w (replaced while opening)", ErrUnsafe)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// classify turns the errors of the root's operations into the store's: absent is
// ErrNotFound; a path that leaves the root (through a planted link or "..") is ErrUnsafe.
func (l *Local) classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case strings.Contains(err.Error(), "path escapes from parent"): // os.Root's error, not exported
		return fmt.Errorf("%w: %v", ErrUnsafe, err)
	}
	return err
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
	fi, err := l.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = l.root.Remove(p)
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

// localObject describes a file; its ETag is its size and modification time, which change
// whenever Put replaces the file.
func localObject(key string, fi fs.FileInfo) Object {
	return Object{
		Key:     key,
		Size:    fi.Size(),
		ETag:    `"` + strconv.FormatInt(fi.Size(), 36) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 36) + `"`,
		ModTime: fi.ModTime().UTC(),
	}
}

// syncDir makes a rename in dir (inside the root) durable.
func (l *Local) syncDir(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// randomSuffix names a temporary file.
func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
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

// File is the open file itself, for a caller that can hand it to the kernel (sendfile) and
// stops reading when its context is done.
func (r *localReader) File() *os.File { return r.f }
func (r *localReader) Info() Object   { return r.info }
