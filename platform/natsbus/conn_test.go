package natsbus

import (
	"strings"
	"testing"
	"time"
)

func TestDialerToADeadURLNamesNATSURL(t *testing.T) {
	t.Parallel()
	url := "nats://" + freeAddr(t)
	start := time.Now()
	nc, err := NewDialer(url, testLogger(t))("dead")
	if err == nil {
		nc.Close()
		t.Fatalf("connected to %s", url)
	}
	if !strings.Contains(err.Error(), "NATS_URL") || !strings.Contains(err.Error(), url) {
		t.Errorf("error does not name NATS_URL and the URL: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to fail", d)
	}
}

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
