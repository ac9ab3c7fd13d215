package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// dieWithParent makes the child process get SIGKILL when the test binary dies, so a test
// killed by its timeout leaves no service running against the shared servers.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lockMachine serialises runs of this suite on this machine (they share the NATS stream),
// waiting up to wait for another run to finish. The lock goes with the process, so a run
// that died holds nothing.
func lockMachine(t *testing.T, wait time.Duration) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "factorial-integration-nats.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lock %s: another run of this suite holds it (%v); it owns the NATS stream until it ends", path, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
