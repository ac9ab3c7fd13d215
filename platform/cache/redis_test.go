package cache_test

import (
	"context"
	"crypto/rand"
	"strings"
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
