package cache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/factorial-service/factorial/platform/cache"
	"github.com/factorial-service/factorial/platform/testenv"
)

// testPrefix is unique per call, so runs and parallel tests never share keys.
func testPrefix() string { return "test:" + rand.Text()[:10] + ":" }

func newMiniredis(t *testing.T) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	return mr, client
}

// realRedis returns a client of TEST_REDIS_URL, or skips the test when it is unset.
func realRedis(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testenv.URL(t, testenv.Redis))
	if err != nil {
		t.Fatalf("%s: %v", testenv.Redis, err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		testenv.Unreachable(t, testenv.Redis, err)
	}
	return client
}

// cleanupPrefix deletes every key under prefix when the test ends.
func cleanupPrefix(t *testing.T, client redis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
}

func TestRedisContractOnMiniredis(t *testing.T) {
	runContract(t, func(t *testing.T) subject {
		mr, client := newMiniredis(t)
		return subject{cache: cache.NewRedis(client, testPrefix()), advance: mr.FastForward}
	})
}

func TestRedisContractOnRealRedis(t *testing.T) {
	client := realRedis(t)
	runContract(t, func(t *testing.T) subject {
		prefix := testPrefix()
		cleanupPrefix(t, client, prefix)
		return subject{cache: cache.NewRedis(client, prefix), advance: time.Sleep}
	})
}

func TestRedisPrefixes(t *testing.T) {
	backends := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"miniredis", func(t *testing.T) redis.UniversalClient { _, c := newMiniredis(t); return c }},
		{"real redis", func(t *testing.T) redis.UniversalClient { return realRedis(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			client, ctx := b.client(t), t.Context()
			pa, pb := testPrefix(), testPrefix()
			cleanupPrefix(t, client, pa)
			cleanupPrefix(t, client, pb)
			a, bc := cache.NewRedis(client, pa), cache.NewRedis(client, pb)

			mustSet(t, a, "k", "from a", time.Minute)
			assertMiss(t, bc, "k")
			mustSet(t, bc, "k", "from b", time.Minute)
			if err := bc.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			assertValue(t, a, "k", "from a")

			raw, err := client.Get(ctx, pa+"k").Result()
			if err != nil || raw != "from a" {
				t.Errorf("raw key %q = %q, %v; want the value stored under the prefix", pa+"k", raw, err)
			}
			if ttl := client.PTTL(ctx, pa+"k").Val(); ttl <= 0 || ttl > time.Minute {
				t.Errorf("PTTL = %v, want about a minute", ttl)
			}
		})
	}
}

func TestOpenRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"valid url", "redis://" + mr.Addr() + "/0", ""},
		{"not a redis url", "http://" + mr.Addr(), "REDIS_URL"},
		{"bad database", "redis://" + mr.Addr() + "/x", "REDIS_URL"},
		{"password is not echoed", "redis://user:s3cret@" + mr.Addr() + "/x", "REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cache.OpenRedis(tt.url, testPrefix())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenRedis = %v, want an error naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenRedis: %v", err)
			}
			defer c.Close()
			if err := c.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

func TestRedisPingFailsWhenDown(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	c := cache.NewRedis(client, testPrefix())
	mr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis down")
	}
	if _, err := c.Get(ctx, "k"); err == nil || strings.Contains(err.Error(), cache.ErrMiss.Error()) {
		t.Errorf("Get = %v, want a connection error, not a miss", err)
	}
}

// roundTrips counts what a client sends: commands alone and pipelines.
type roundTrips struct{ single, pipelines, piped atomic.Int32 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.single.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		c.piped.Add(int32(len(cmds)))
		return next(ctx, cmds)
	}
}

// Many callers at once share round trips (pipelines), and each gets its own answer: its
// value, or a miss. A command alone is sent alone, at once.
func TestRedisSharesRoundTrips(t *testing.T) {
	mr := miniredis.RunT(t)
	// Each round trip takes 5 ms more, as a loaded Redis would: callers arrive while it runs.
	slow := &slowDialer{delay: 5 * time.Millisecond}
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), Dialer: slow.dial, PoolSize: 1})
	t.Cleanup(func() { _ = client.Close() })
	ctx := t.Context()
	if err := client.Ping(ctx).Err(); err != nil { // the connection's own hand-shake, not counted
		t.Fatal(err)
	}
	counts := &roundTrips{}
	client.AddHook(counts)
	c := cache.NewRedis(client, testPrefix())

	if err := c.Set(ctx, "alone", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "alone"); err != nil || string(got) != "1" {
		t.Fatalf("get alone: %q %v", got, err)
	}
	if counts.single.Load() != 2 || counts.pipelines.Load() != 0 {
		t.Fatalf("two commands one after the other: %d alone, %d pipelines; want 2 alone", counts.single.Load(), counts.pipelines.Load())
	}

	const callers = 400
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			key, value := fmt.Sprintf("k%d", i), fmt.Sprintf("value of %d", i)
			if err := c.Set(ctx, key, []byte(value), time.Minute); err != nil {
				t.Errorf("set %s: %v", key, err)
				return
			}
			if got, err := c.Get(ctx, key); err != nil || string(got) != value {
				t.Errorf("get %s: %q %v, want %q", key, got, err, value)
			}
			if _, err := c.Get(ctx, key+"-never-set"); err != cache.ErrMiss {
				t.Errorf("get of a key never set: %v, want ErrMiss", err)
			}
		})
	}
	wg.Wait()
	trips := counts.single.Load() - 2 + counts.pipelines.Load()
	t.Logf("%d commands in %d round trips (%d pipelines of %d commands)", 3*callers, trips, counts.pipelines.Load(), counts.piped.Load())
	if trips > 3*callers/10 {
		t.Errorf("%d round trips for %d concurrent commands, want them shared", trips, 3*callers)
	}
}

// slowDialer makes connections whose every read waits delay first.
type slowDialer struct{ delay time.Duration }

func (d *slowDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return slowConn{conn, d.delay}, nil
}

type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Read(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Read(p)
}

// A Redis that refuses connections (down, restarting) costs a lookup no more than the refusal:
// with go-redis's defaults each lookup dialled five times 100 ms apart, and live, with Redis
// killed, every GET and POST of the API took 500 ms more and its throughput fell by two
// thirds, for a cache that holds copies only.
func TestRedisDownFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there: connections are refused
	c, err := cache.OpenRedis("redis://"+addr+"/0", testPrefix())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		start := time.Now()
		if _, err := c.Get(t.Context(), "k"); err == nil {
			t.Fatal("Get succeeded with Redis down")
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Fatalf("lookup %d with Redis refusing connections took %v, want less than one default dial cycle (500 ms)", i+1, d)
		}
	}
}

// switchDialer refuses connections while down is set, as a stopped Redis does, and counts
// the dials; otherwise it dials addr.
type switchDialer struct {
	addr  string
	down  atomic.Bool
	dials atomic.Int64
}

func (d *switchDialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	d.dials.Add(1)
	if d.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	return (&net.Dialer{}).DialContext(ctx, network, d.addr)
}

// After a command could not reach Redis, the cache skips it for a second: the commands meanwhile
// fail at once without a dial (each paid go-redis's retries before, up to the API's 250 ms
// wait); then it asks again, and a Ping that answers ends the second early.
func TestRedisUnreachableIsSkippedForASecond(t *testing.T) {
	mr, _ := newMiniredis(t)
	d := &switchDialer{addr: mr.Addr()}
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), Dialer: d.dial, DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	c := cache.NewRedis(client, testPrefix())
	ctx := t.Context()

	d.down.Store(true)
	if _, err := c.Get(ctx, "k"); err == nil {
		t.Fatal("Get succeeded with Redis down")
	}
	dials := d.dials.Load()
	for range 50 {
		if _, err := c.Get(ctx, "k"); !errors.Is(err, cache.ErrSkipped) {
			t.Fatalf("Get within a second of the refusal: %v, want ErrSkipped", err)
		}
		if err := c.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, cache.ErrSkipped) {
			t.Fatalf("Set within a second of the refusal: %v, want ErrSkipped", err)
		}
	}
	if got := d.dials.Load(); got != dials {
		t.Errorf("%d dials for 100 commands within the second, want none", got-dials)
	}

	d.down.Store(false) // back, but the cache does not know it yet
	if _, err := c.Get(ctx, "k"); !errors.Is(err, cache.ErrSkipped) {
		t.Fatalf("Get right after Redis came back: %v, want ErrSkipped until the second is over", err)
	}
	time.Sleep(time.Second + 50*time.Millisecond)
	if _, err := c.Get(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get a second later: %v, want a miss from Redis", err)
	}

	// A Ping that answers ends the second early (a new client: no pooled connection).
	d.down.Store(true)
	client2 := redis.NewClient(&redis.Options{Addr: mr.Addr(), Dialer: d.dial, DialerRetries: 1})
	t.Cleanup(func() { _ = client2.Close() })
	c = cache.NewRedis(client2, testPrefix())
	if _, err := c.Get(ctx, "k"); err == nil {
		t.Fatal("Get succeeded with Redis down")
	}
	d.down.Store(false)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get after a Ping that answered: %v, want a miss from Redis", err)
	}
}
