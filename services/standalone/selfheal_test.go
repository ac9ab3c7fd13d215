package standalone_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// natsOnPort is a NATS server of the test's own on a fixed port, which the test stops and
// starts again, on the same store or an empty one.
type natsOnPort struct {
	t    *testing.T
	port int
	srv  *server.Server
}

func newNATSOnPort(t *testing.T) *natsOnPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &natsOnPort{t: t, port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	n.start(t.TempDir())
	t.Cleanup(func() { n.stop() })
	return n
}

func (n *natsOnPort) start(store string) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats not ready")
	}
	n.srv = srv
}

func (n *natsOnPort) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsOnPort) url() string {
	return "nats://127.0.0.1:" + strings.Split(n.srv.ClientURL(), ":")[2]
}

// readyz is the body of /readyz, by check.
func (s *service) readyz() (int, map[string]string) {
	r := s.get("/readyz")
	var body map[string]string
	_ = json.Unmarshal(r.body, &body)
	return r.status, body
}

// The stream or a lane consumer that disappears while the service runs (deleted, or a NATS
// restarted with an empty store) is recreated within seconds, with no process restarted:
// /readyz says what is missing meanwhile, every accepted request completes (one that waited
// in the stream when it went too), and a result finished while the stream was gone is
// announced once it is back.
func TestJetStreamStateHealsItself(t *testing.T) {
	ns := newNATSOnPort(t)
	release, hold := make(chan struct{}), make(chan struct{})
	engine := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		gate := map[uint64]chan struct{}{30000: release, 30001: hold}[n]
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return factorial.Write(ctx, n, w, progress)
	})
	cfg := testConfig(t, t.TempDir())
	cfg.NATSURL = ns.url()
	cfg.Calculator.PendingAfter = 2 * time.Second
	s := start(t, cfg, engine)
	admin, err := nats.Connect(ns.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	// The store of the NATS restarted empty below: the test's, not the subtest's, since the
	// server outlives the subtest (a subtest's TempDir is removed while it writes there).
	emptyStore := t.TempDir()
	s.post(10)
	s.waitDone(10)

	t.Run("a deleted lane consumer", func(t *testing.T) {
		if err := js.DeleteConsumer(t.Context(), events.Stream, events.LaneSmall.Durable()); err != nil {
			t.Fatal(err)
		}
		s.post(11)
		if res := s.waitDone(11); res["factorial_result"] != "39916800" {
			t.Fatalf("11!: %v", res)
		}
		if _, err := js.Consumer(t.Context(), events.Stream, events.LaneSmall.Durable()); err != nil {
			t.Fatalf("the consumer was not recreated: %v", err)
		}
	})

	t.Run("a deleted stream, with a request waiting in it", func(t *testing.T) {
		// 30001 holds the large lane's only slot, so 30002 waits in the stream when it goes.
		s.post(30001)
		s.waitFor(30001, "computing", func(m map[string]any) bool { return m["status"] == "computing" })
		s.post(30002)
		if err := js.DeleteStream(t.Context(), events.Stream); err != nil {
			t.Fatal(err)
		}
		s.post(12)
		if res := s.waitDone(12); res["factorial_result"] != "479001600" {
			t.Fatalf("12!: %v", res)
		}
		close(hold)
		for _, n := range []int64{30001, 30002} {
			if res := s.waitDone(n); res["status"] != "done" {
				t.Fatalf("%d!: %v", n, res)
			}
		}
		if c := engine.count(30002); c != 1 {
			t.Errorf("engine ran %d times for 30002, want once", c)
		}
	})

	t.Run("a NATS restarted with an empty store, while a result is finished", func(t *testing.T) {
		s.post(30000)
		s.waitFor(30000, "computing", func(m map[string]any) bool { return m["status"] == "computing" })
		ns.stop()
		// What /readyz says while NATS is gone: the parts, named, nothing internal.
		var body map[string]string
		eventually(t, 15*time.Second, "/readyz says JetStream is gone", func() bool {
			var status int
			status, body = s.readyz()
			return status == http.StatusServiceUnavailable && strings.HasPrefix(body["jetstream"], "stream FACTORIAL: ")
		})
		for check, reason := range body {
			if strings.Contains(reason, "/") || strings.Contains(reason, "nats:") {
				t.Errorf("/readyz %s: %q shows internals", check, reason)
			}
		}
		close(release) // 30000! is finished while the stream is gone: its announcement is owed
		s.waitFor(30000, "done", func(m map[string]any) bool { return m["status"] == "done" })

		ns.start(emptyStore)
		watcher, err := nats.Connect(ns.url())
		if err != nil {
			t.Fatal(err)
		}
		defer watcher.Close()
		announced := make(chan int64, 16)
		if _, err := watcher.Subscribe(events.SubjectComputed, func(m *nats.Msg) {
			var c events.Computed
			if events.Decode(m.Data, &c) == nil {
				announced <- c.Number
			}
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(20 * time.Second)
		for got := false; !got; {
			select {
			case n := <-announced:
				got = n == 30000
			case <-deadline:
				t.Fatal("30000! finished while the stream was gone was not announced once it was back")
			}
		}
		eventually(t, 15*time.Second, "/readyz is ready again", func() bool {
			status, _ := s.readyz()
			return status == http.StatusOK
		})
		s.post(13)
		if res := s.waitDone(13); res["factorial_result"] != "6227020800" {
			t.Fatalf("13!: %v", res)
		}
	})
	if c := engine.count(11) + engine.count(12) + engine.count(13); c != 3 {
		t.Errorf("engine ran %d times for 11, 12 and 13, want once each", c)
	}
}

// eventually polls cond every 50ms until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
