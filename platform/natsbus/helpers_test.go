package natsbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/testenv"
)

// bus is one NATS server the contract tests run against, with the names to use on it.
type bus struct {
	url  string
	topo topology
}

// subject is the topology's subject for an event kind ("requested", "computed", …).
func (b bus) subject(kind string) string {
	return strings.TrimSuffix(b.topo.subjects, ">") + kind
}

// buses runs f against a fresh in-process server (with the real FACTORIAL names) and against
// the machine's NATS server from TEST_NATS_URL (with names of its own, see sharedBus).
func buses(t *testing.T, f func(t *testing.T, b bus)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		f(t, bus{url: startServer(t).ClientURL(), topo: defaultTopology})
	})
	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		f(t, sharedBus(t))
	})
}

// startServer starts an in-process JetStream server on a random port.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// sharedBus is the server at TEST_NATS_URL, used by other test runs at the same time. Every
// test gets a stream, subjects and a durable named after a fresh random id, so it never touches
// FACTORIAL or another run's stream; the stream (and its consumers) go in t.Cleanup.
func sharedBus(t *testing.T) bus {
	t.Helper()
	url := testenv.URL(t, testenv.NATS)
	nc, err := nats.Connect(url, nats.Name("natsbus-test-admin"))
	if err != nil {
		testenv.Unreachable(t, testenv.NATS, err)
	}
	keepAccountStore(t, nc)
	id := strings.ToLower(rand.Text()[:12])
	b := bus{url: url, topo: topology{
		stream:    "NATSBUS_TEST_" + id,
		subjects:  "natsbus-test." + id + ".>",
		requested: "natsbus-test." + id + ".requested",
	}}
	t.Cleanup(func() {
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, b.topo.stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("cleanup: delete stream %s: %v", b.topo.stream, err)
		}
	})
	return b
}

// keepAccountStore makes sure the shared server's account holds a stream no test deletes.
// nats-server 2.9 (the machine's) removes an account's store directory when its last stream is
// deleted, and a stream created by a parallel test at that moment fails with "error creating
// store for stream" (mkdir …/$G/streams/…: no such file or directory). With one stream that
// stays, the directory never goes.
func keepAccountStore(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "NATSBUS_TEST_KEEP", Subjects: []string{"natsbus-test-keep"}, Storage: jetstream.FileStorage, MaxMsgs: 1,
	})
	if err != nil {
		t.Fatalf("keep the account's store: %v", err)
	}
}

// dial connects to url with the package's own options, closed at the end of the test.
func dial(t *testing.T, url, name string) *nats.Conn {
	t.Helper()
	nc, err := NewDialer(url, testLogger(t))(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// provisionBus provisions b's stream and lane consumers once, and returns the supervisor
// that did (not running: call Check to run it again).
func provisionBus(t *testing.T, b bus, layout Layout) (jetstream.JetStream, *Supervisor) {
	t.Helper()
	js := newJS(t, dial(t, b.url, "provision"))
	s := newSupervisor(js, b.topo, layout, testLogger(t), time.Second)
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	return js, s
}

// recheck runs the supervisor's check until one passes, as Run does (a failed check is tried again a
// quarter period later), a few times at most. A lane consumer created right after its
// predecessor of the same name was deleted, alone or with its stream, may fail on the server's
// side: nats-server (2.15) deletes a consumer's directory without waiting for a state write
// still in flight, which then meets the new consumer's own first write in the same path, and
// the create fails with "rename …/o.dat.tmp …/o.dat: no such file or directory". The next
// check creates it.
func recheck(t *testing.T, s *Supervisor, what string) {
	t.Helper()
	var err error
	for range 5 {
		if err = s.Check(t.Context()); err == nil {
			return
		}
		t.Logf("%s: check failed, checking again as Run would: %v", what, err)
		time.Sleep(s.every / 4)
	}
	t.Fatalf("%s: %v", what, err)
}

// lanes is a layout with both lane consumers.
func lanes(ackWait time.Duration, maxAckPending int) Layout {
	return Layout{Replicas: 1, Consumers: map[events.Lane]Consumer{
		events.LaneSmall: {AckWait: ackWait, MaxAckPending: maxAckPending},
		events.LaneLarge: {AckWait: ackWait, MaxAckPending: maxAckPending},
	}}
}

// requestSubject is the subject of a request for n on b.
func (b bus) requestSubject(n int64) string {
	return fmt.Sprintf("%s.%s.%d", b.topo.requested, events.LaneOf(n), n)
}

// freeAddr returns a loopback address with a port nobody listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// testLogger writes warnings and errors to the test's output, and drops whatever the
// connections' goroutines log once the test is over.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
