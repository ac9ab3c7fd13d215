package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/platform/testenv"
)

// natsNode is one nats-server process (bin/nats-server, built by `make tools`) of a cluster of
// this test's own, with JetStream on disk in a temporary directory: a node can be killed with
// SIGKILL and started again on the same store, as an operator's would.
type natsNode struct {
	name    string
	bin     string
	conf    string
	client  string // host:port
	monitor string // host:port of the monitoring endpoint
	proc    *process
}

// natsCluster is a JetStream cluster of nats-server processes (one node: a single server).
type natsCluster struct {
	nodes []*natsNode
}

func startNATSCluster(t *testing.T, size int) *natsCluster {
	t.Helper()
	bin := testenv.Tool(t, "nats-server")
	dir := t.TempDir()
	c := &natsCluster{}
	var routes []string
	clusterAddrs := make([]string, size)
	for i := range size {
		clusterAddrs[i] = freeAddr(t)
		routes = append(routes, "nats-route://"+clusterAddrs[i])
	}
	for i := range size {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1), bin: bin, client: freeAddr(t), monitor: freeAddr(t)}
		store := filepath.Join(dir, n.name)
		conf := fmt.Sprintf("server_name: %s\nlisten: %q\nhttp: %q\njetstream {\n  store_dir: %q\n}\n",
			n.name, n.client, n.monitor, store)
		if size > 1 {
			conf += fmt.Sprintf("cluster {\n  name: factorial-test\n  listen: %q\n  routes: [%s]\n}\n",
				clusterAddrs[i], strings.Join(quoted(routes), ", "))
		}
		n.conf = filepath.Join(dir, n.name+".conf")
		if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		n.start(t)
	}
	for _, n := range c.nodes {
		n.waitHealthy(t)
	}
	return c
}

func quoted(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

func (n *natsNode) start(t *testing.T) {
	t.Helper()
	n.proc = start(t, "nats-"+n.name, n.bin, nil, "-c", n.conf)
}

// waitHealthy waits until the node reports JetStream healthy (the meta group has a leader and
// the node is current with it).
func (n *natsNode) waitHealthy(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, readyTimeout, "nats-server "+n.name+" is healthy", func() error {
		if !n.proc.running() {
			t.Fatalf("nats-server %s exited (%v)", n.name, n.proc.err)
		}
		resp, err := client.Get("http://" + n.monitor + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %d", resp.StatusCode)
		}
		return nil
	})
}

// kill ends the node with SIGKILL, as a crash or a lost machine would.
func (n *natsNode) kill(t *testing.T) {
	t.Helper()
	if err := n.proc.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill nats-server %s: %v", n.name, err)
	}
	<-n.proc.exited
}

// restart starts a killed node again on its store.
func (n *natsNode) restart(t *testing.T) {
	t.Helper()
	n.start(t)
	n.waitHealthy(t)
}

// urls is NATS_URL for the whole cluster.
func (c *natsCluster) urls() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, "nats://"+n.client)
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) node(t *testing.T, name string) *natsNode {
	t.Helper()
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	t.Fatalf("no node %q in the cluster", name)
	return nil
}

// jetStream connects to the cluster for the test's own requests.
func (c *natsCluster) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.urls(), nats.Name("cluster-test"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamLeader is the node that leads the stream.
func (c *natsCluster) streamLeader(t *testing.T, js jetstream.JetStream, stream string) *natsNode {
	t.Helper()
	var leader string
	eventually(t, readyTimeout, "the stream has a leader", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return errNotYet
		}
		leader = ci.Leader
		return nil
	})
	return c.node(t, leader)
}

// consumerLeader is the node that leads the stream's durable consumer: where the pull
// requests of its clients wait.
func (c *natsCluster) consumerLeader(t *testing.T, js jetstream.JetStream, stream, consumer string) *natsNode {
	t.Helper()
	var leader string
	eventually(t, readyTimeout, "consumer "+consumer+" has a leader", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return err
		}
		ci := cons.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return errNotYet
		}
		leader = ci.Leader
		return nil
	})
	return c.node(t, leader)
}

// stepDown asks the leader of the stream's consumer to hand leadership to another node.
func (c *natsCluster) stepDown(t *testing.T, js jetstream.JetStream, stream, consumer string) {
	t.Helper()
	before := c.consumerLeader(t, js, stream, consumer)
	if _, err := js.Conn().Request("$JS.API.CONSUMER.LEADER.STEPDOWN."+stream+"."+consumer, nil, 5*time.Second); err != nil {
		t.Fatalf("step down consumer %s: %v", consumer, err)
	}
	eventually(t, readyTimeout, "consumer "+consumer+" has a new leader", func() error {
		if c.consumerLeader(t, js, stream, consumer) == before {
			return errNotYet
		}
		return nil
	})
}

// connectedTo is the node where the client connection named name is connected.
func (c *natsCluster) connectedTo(t *testing.T, name string) *natsNode {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var found *natsNode
	eventually(t, readyTimeout, "connection "+name+" is connected", func() error {
		for _, n := range c.nodes {
			if !n.proc.running() {
				continue
			}
			resp, err := client.Get("http://" + n.monitor + "/connz?limit=1024")
			if err != nil {
				continue
			}
			var connz struct {
				Connections []struct {
					Name string `json:"name"`
				} `json:"connections"`
			}
			err = json.NewDecoder(resp.Body).Decode(&connz)
			resp.Body.Close()
			if err != nil {
				continue
			}
			for _, conn := range connz.Connections {
				if conn.Name == name {
					found = n
					return nil
				}
			}
		}
		return errNotYet
	})
	return found
}
