package objectstore

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// errNoOpenat2 says the kernel cannot do openat2 (before Linux 5.6, or a seccomp profile that
// refuses it): the root is used instead.
var errNoOpenat2 = errors.New("openat2 not available")

var noOpenat2 atomic.Bool

// openRegularFast opens p below the store's directory in one system call that refuses any
// symbolic link on the way and any way out of the directory (openat2 with RESOLVE_BENEATH,
// RESOLVE_NO_SYMLINKS). O_NONBLOCK keeps a planted FIFO from blocking the open; it changes
// nothing for the regular file it must be.
func (l *Local) openRegularFast(p string) (*os.File, error) {
	if noOpenat2.Load() {
		return nil, errNoOpenat2
	}
	fd, err := unix.Openat2(int(l.dirfd.Fd()), p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), filepath.Join(l.dir, p)), nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		noOpenat2.Store(true)
		return nil, errNoOpenat2
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return nil, ErrNotFound
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return nil, ErrUnsafe
	}
	return nil, err
}
