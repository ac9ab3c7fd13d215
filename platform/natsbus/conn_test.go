package natsbus

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A service starts while NATS is down: with no server answering, the dialer returns the
// connection at once, not connected, says so in one warning (the password redacted), and
// the connection connects by itself once a server listens on the address.
func TestDialerConnectsInTheBackgroundWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	url := "nats://bob:s3cret@" + addr
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	start := time.Now()
	nc, err := NewDialer(url, log)("late")
	if err != nil {
		t.Fatalf("dial with no server answering: %v; want the connection, connecting in the background", err)
	}
	defer nc.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to return", d)
	}
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	mu.Lock()
	said := logs.String()
	mu.Unlock()
	if !strings.Contains(said, "NATS does not answer") || !strings.Contains(said, "bob:xxxxx@") || strings.Contains(said, "s3cret") {
		t.Errorf("the warning, redacted, is missing: %q", said)
	}

	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ns, err := server.NewServer(&server.Options{Host: host, Port: p, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	waitFor(t, 10*time.Second, "the connection connects once the server listens", nc.IsConnected)
	if err := nc.Publish("x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestDialerNamesTheConnection(t *testing.T) {
	t.Parallel()
	nc := dial(t, startServer(t).ClientURL(), "calculator-consumer-3")
	if nc.Opts.Name != "calculator-consumer-3" {
		t.Errorf("connection name %q", nc.Opts.Name)
	}
	if nc.Opts.MaxReconnect != -1 {
		t.Errorf("MaxReconnect %d, want -1 (reconnect forever)", nc.Opts.MaxReconnect)
	}
}
