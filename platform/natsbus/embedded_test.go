package natsbus

import (
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/events"
)

func startEmbedded(t *testing.T, storeDir, addr string, opts ...EmbeddedOption) *Embedded {
	t.Helper()
	e, err := StartEmbedded(storeDir, addr, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// withDefaultAddr replaces DefaultEmbeddedAddr, so a test can take it first.
func withDefaultAddr(addr string) EmbeddedOption {
	return func(c *embeddedConfig) { c.defaultAddr = addr }
}

// serviceURL is e's ClientURL with the internal user's credentials, for tests that need the
// service's rights through the listener (reconnecting across a server restart).
func (e *Embedded) serviceURL() string {
	u, err := url.Parse(e.ClientURL())
	if err != nil || u.Host == "" {
		return ""
	}
	u.User = url.UserPassword(serviceUser, servicePassword())
	return u.String()
}

func TestStartEmbeddedListensOnTheGivenAddress(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	e := startEmbedded(t, t.TempDir(), addr)

	if got, want := e.ClientURL(), "nats://"+addr; got != want {
		t.Fatalf("ClientURL = %q, want %q", got, want)
	}
	nc, err := nats.Connect(e.serviceURL())
	if err != nil {
		t.Fatalf("the service through the listener: %v", err)
	}
	defer nc.Close()
	if _, err := newJS(t, nc).AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream through the listener: %v", err)
	}
}

func TestStartEmbeddedOffConnectsInProcessOnly(t *testing.T) {
	t.Parallel()
	e := startEmbedded(t, t.TempDir(), "off")

	if got := e.ClientURL(); got != "" {
		t.Errorf("ClientURL = %q, want empty", got)
	}
	if a := e.srv.Addr(); a != nil {
		t.Errorf("server listens on %s", a)
	}
	nc, err := e.Dialer(testLogger(t))("in-process")
	if err != nil {
		t.Fatalf("Dialer: %v", err)
	}
	defer nc.Close()
	if _, err := newJS(t, nc).AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream in-process: %v", err)
	}
}

func TestStartEmbeddedRejects(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })

	tests := []struct {
		name string
		addr string
	}{
		{"an address already in use", busy.Addr().String()},
		{"an address that is not host:port", "nonsense"},
		{"a port that is not a number", "127.0.0.1:http"},
		{"a port out of range", "127.0.0.1:70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			e, err := StartEmbedded(t.TempDir(), tt.addr, testLogger(t))
			if err == nil {
				e.Shutdown()
				t.Fatalf("StartEmbedded(%q) started", tt.addr)
			}
			if !strings.Contains(err.Error(), "EMBEDDED_NATS_ADDR") {
				t.Errorf("error does not name EMBEDDED_NATS_ADDR: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}

// With EMBEDDED_NATS_ADDR unset, a taken default address is no reason to stop: the server
// listens on a free port of the same host and says where in ClientURL.
func TestStartEmbeddedUnsetFallsBackToAFreePort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })
	taken := busy.Addr().String()

	e := startEmbedded(t, t.TempDir(), "", withDefaultAddr(taken), WithSubscriberPassword("pw"))
	u, err := url.Parse(e.ClientURL())
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Host == taken {
		t.Fatalf("ClientURL = %q, want another port on 127.0.0.1 than the taken %s", e.ClientURL(), taken)
	}
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(SubscriberUser, "pw"))
	if err != nil {
		t.Fatalf("subscriber at %s: %v", e.ClientURL(), err)
	}
	nc.Close()

	// A free default address is used as it is.
	free := freeAddr(t)
	if e := startEmbedded(t, t.TempDir(), "", withDefaultAddr(free)); e.ClientURL() != "nats://"+free {
		t.Errorf("ClientURL = %q with the default %s free", e.ClientURL(), free)
	}
}

// An unusable store directory stops the start at once with JetStream's reason, instead of
// a server without JetStream or a wait for a listener that never comes.
func TestStartEmbeddedFailsOnAnUnusableStoreDir(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"off", "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			file := t.TempDir() + "/file"
			if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			e, err := StartEmbedded(file, addr, testLogger(t))
			if err == nil {
				e.Shutdown()
				t.Fatal("started with a file as its store directory")
			}
			if !strings.Contains(err.Error(), "JetStream") {
				t.Errorf("error does not say JetStream failed: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}

func TestStartEmbeddedKeepsTheStreamAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := testLogger(t)

	e, err := StartEmbedded(dir, "off", log)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := e.Dialer(log)("before")
	if err != nil {
		t.Fatal(err)
	}
	js := newJS(t, nc)
	if err := Provision(t.Context(), js, lanes(time.Minute, 8)); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(t.Context(), events.RequestedSubject(7), []byte(`{"number":7}`))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	e.Shutdown()

	e = startEmbedded(t, dir, "off")
	nc, err = e.Dialer(log)("after")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stream, err := newJS(t, nc).Stream(t.Context(), events.Stream)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := stream.GetMsg(t.Context(), ack.Sequence)
	if err != nil {
		t.Fatalf("message after restart: %v", err)
	}
	if string(msg.Data) != `{"number":7}` || msg.Subject != events.RequestedSubject(7) {
		t.Errorf("got %s %q after restart", msg.Subject, msg.Data)
	}
	if _, err := stream.Consumer(t.Context(), events.LaneSmall.Durable()); err != nil {
		t.Errorf("durable consumer after restart: %v", err)
	}
}
