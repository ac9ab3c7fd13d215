package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Time limits of the harness.
const (
	buildTimeout = 5 * time.Minute  // a clean clone compiles everything
	readyTimeout = 30 * time.Second // from start to /readyz answering 200
	stopTimeout  = 15 * time.Second // from SIGTERM to exit
	exitTimeout  = 15 * time.Second // for a program expected to stop by itself
	logTailLines = 150              // lines of each process's output shown on failure
)

// binaries are the programs under test, built for this run.
type binaries struct {
	api, calculator, migrate string
}

// repoRoot is the workspace root: the parent of this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("workspace root %s has no go.work: %v", root, err)
	}
	return root
}

// build compiles bin/api, bin/calculator and bin/migrate from the workspace into a
// temporary directory: the test never depends on a bin/ left by `make build`.
func build(t *testing.T) binaries {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./services/api/cmd/api", "./services/calculator/cmd/calculator", "./migrations/cmd/migrate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the binaries in %v", time.Since(start).Round(time.Millisecond))
	return binaries{
		api:        filepath.Join(dir, "api"),
		calculator: filepath.Join(dir, "calculator"),
		migrate:    filepath.Join(dir, "migrate"),
	}
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// baseEnv is the environment every program gets besides its own settings: none of the
// caller's, so a developer's AWS profile or LOG_LEVEL cannot change what is tested.
func baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// output collects what a process writes, safe for concurrent use.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// tail returns the last n lines, saying how many were left out.
func (o *output) tail(n int) string {
	lines := strings.Split(strings.TrimRight(o.String(), "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("(%d earlier lines left out)\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}

// process is a program started by the test.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *output
	stderr *output
	exited chan struct{} // closed once the process has exited; then err is its Wait error
	err    error
}

// start runs path with env and args. The process is killed, if still running, when the test
// ends, and its output is logged if the test failed.
func start(t *testing.T, name, path string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, stdout: &output{}, stderr: &output{}, exited: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(baseEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("--- %s stderr:\n%s", p.name, p.stderr.tail(logTailLines))
			if out := p.stdout.String(); out != "" {
				t.Logf("--- %s stdout:\n%s", p.name, p.stdout.tail(logTailLines))
			}
		}
	})
	return p
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitCode is the process's exit status, or -1 if a signal ended it.
func (p *process) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// wait waits up to d for the process to exit by itself and returns its exit code.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.exitCode()
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.name, d)
		return 0
	}
}

// stop sends SIGTERM and checks that the process exits with status 0 within stopTimeout.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if !p.running() {
		t.Errorf("%s had already exited (%v) before it was stopped", p.name, p.err)
		return
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM %s: %v", p.name, err)
		return
	}
	select {
	case <-p.exited:
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exited with status %d (%v) after SIGTERM, want 0", p.name, code, p.err)
		} else {
			t.Logf("%s stopped cleanly in %v", p.name, time.Since(start).Round(time.Millisecond))
		}
	case <-time.After(stopTimeout):
		t.Errorf("%s still running %v after SIGTERM", p.name, stopTimeout)
	}
}

// runToExit runs a program that should stop by itself and returns its exit code and output.
func runToExit(t *testing.T, name, path string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, name, path, env, args...)
	code = p.wait(t, exitTimeout)
	return code, p.stdout.String(), p.stderr.String()
}

// waitReady polls base/readyz until it answers 200, failing if the process exits first.
func waitReady(t *testing.T, p *process, base string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	var last string
	for time.Now().Before(deadline) {
		if !p.running() {
			t.Fatalf("%s exited (%v) before it was ready", p.name, p.err)
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %v: last /readyz: %s", p.name, readyTimeout, last)
}

// randomName returns prefix followed by 12 random lowercase letters and digits.
func randomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:12])
}

// eventually polls check every 100ms until it returns nil or d passes, then fails with its
// last error.
func eventually(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
