package standalone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir creates DATA_DIR if needed and locks it for this process, so that a second
// standalone process on the same data (two NATS servers on one store, two SQLite writers)
// stops at start with one clear line instead. The lock is the kernel's (flock), so it goes
// with the process, however it ends; release gives it up at shutdown.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("DATA_DIR %s: %w", dir, unwrapPath(err))
	}
	f, err := os.OpenFile(filepath.Join(dir, "standalone.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR %s: %w", dir, unwrapPath(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "?"
			}
			return nil, fmt.Errorf("DATA_DIR %s is in use by another standalone process (pid %s): stop it, or set DATA_DIR to another directory", dir, pid)
		}
		return nil, fmt.Errorf("DATA_DIR %s: lock: %w", dir, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Close() }, nil // closing the file releases the lock
}

// unwrapPath keeps what went wrong, without the path the error would repeat.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
