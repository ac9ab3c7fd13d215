package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
)

// TestStartsWhileNATSIsDown starts an api and a calculator while their only NATS server is
// down (killed): both come up, answer /readyz 503 naming NATS, and the api accepts a POST (the
// record is the promise); once the server is back on its address, both become ready and the
// request is computed. Before, each exited at start ("no servers available for connection"),
// and only a restart policy brought them back.
func TestStartsWhileNATSIsDown(t *testing.T) {
	bins := build(t)
	cluster := startNATSCluster(t, 1)
	node := cluster.nodes[0]
	node.kill(t)
	env := []string{
		"NATS_URL=" + cluster.urls(), "DATABASE_URL=" + dbtest.PostgresURL(t),
		"STORAGE=local", "LOCAL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "objects"), "RATE_LIMIT_RPS=0",
	}
	apiAddr, calcAddr := freeAddr(t), freeAddr(t)
	api := start(t, "api", bins.api, append(slices.Clone(env), "HTTP_ADDR="+apiAddr))
	calc := start(t, "calculator", bins.calculator, append(slices.Clone(env), "HTTP_ADDR="+calcAddr))
	apiClient := newClient("http://" + apiAddr)
	for _, p := range []struct {
		proc *process
		c    *client
	}{{api, apiClient}, {calc, newClient("http://" + calcAddr)}} {
		eventually(t, readyTimeout, p.proc.name+" answers /readyz 503 naming NATS", func() error {
			if !p.proc.running() {
				t.Fatalf("%s exited while NATS was down (%v)", p.proc.name, p.proc.err)
			}
			r, err := p.c.get("/readyz", "")
			switch {
			case err != nil:
				return err
			case r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"nats":"unavailable"`):
				return fmt.Errorf("/readyz: %d %s", r.status, r.body)
			}
			return nil
		})
	}
	if r, err := apiClient.post(30); err != nil || r.status != http.StatusAccepted {
		t.Fatalf("POST 30 while NATS is down: %v %v; want 202", r.status, err)
	}

	node.restart(t)
	waitReady(t, api, "http://"+apiAddr)
	waitReady(t, calc, "http://"+calcAddr)
	eventually(t, time.Minute, "30! computed once NATS is back", func() error {
		r, err := apiClient.get("/api/v1/factorial/30", "application/json")
		switch {
		case err != nil:
			return err
		case r.status != http.StatusOK || !strings.Contains(string(r.body), `"265252859812191058636308480000000"`):
			return fmt.Errorf("GET 30: %d %s", r.status, r.body)
		}
		return nil
	})
}
