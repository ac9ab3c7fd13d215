package standalone_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/services/standalone"
)

// syncBuffer is a log destination the service's goroutines may write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A first run on a machine that already runs NATS: with EMBEDDED_NATS_ADDR unset and
// 127.0.0.1:4222 taken, the service starts on a free port and says where on its ready line;
// the next line shows how to watch the events, with a generated password that works, and
// the server refuses anonymous clients.
func TestEmbeddedNATSUnsetAndTheDefaultPortTaken(t *testing.T) {
	// Take 4222 unless something (a NATS server of the machine) already has it.
	if ln, err := net.Listen("tcp", natsbus.DefaultEmbeddedAddr); err == nil {
		defer ln.Close()
	}
	cfg := testConfig(t, t.TempDir())
	cfg.EmbeddedNATSAddr, cfg.SubscriberPassword = "", ""
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := standalone.Start(ctx, cfg, standalone.Deps{Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		cancel()
		t.Fatalf("start with the default NATS port taken: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := app.Wait(); err != nil {
			t.Errorf("stopped with: %v", err)
		}
	})

	u, err := url.Parse(app.NATSURL())
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Host == natsbus.DefaultEmbeddedAddr {
		t.Fatalf("NATS URL %q, want a free port on 127.0.0.1", app.NATSURL())
	}
	ready := regexp.MustCompile(`msg="factorial service ready".* nats=(\S+)`).FindStringSubmatch(logs.String())
	if ready == nil || ready[1] != app.NATSURL() {
		t.Fatalf("the ready line does not give the NATS URL %s:\n%s", app.NATSURL(), logs)
	}
	watch := regexp.MustCompile(`command="nats sub 'factorial.>' --server (\S+) --user subscriber --password (\S+)"`).FindStringSubmatch(logs.String())
	if watch == nil || watch[1] != app.NATSURL() {
		t.Fatalf("no watch command for %s after the ready line:\n%s", app.NATSURL(), logs)
	}
	if n := strings.Count(logs.String(), watch[2]); n != 1 {
		t.Errorf("the generated password appears %d times in the log, want once", n)
	}

	nc, err := nats.Connect(app.NATSURL(), nats.UserInfo(natsbus.SubscriberUser, watch[2]))
	if err != nil {
		t.Fatalf("the printed credentials: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(app.NATSURL()); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
}
