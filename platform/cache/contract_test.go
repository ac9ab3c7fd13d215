package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/cache"
)

// subject is one implementation under test: an empty cache and a way to let time pass for it.
type subject struct {
	cache   cache.Cache
	advance func(time.Duration)
}

// shortTTL is short enough for real Redis to expire quickly and long enough that a Get right
// after Set still finds the value.
const shortTTL = 300 * time.Millisecond

// runContract checks the promises of cache.Cache; newSubject must return an empty cache.
func runContract(t *testing.T, newSubject func(t *testing.T) subject) {
	t.Run("get of a missing key is ErrMiss", func(t *testing.T) {
		c := newSubject(t).cache
		v, err := c.Get(t.Context(), "absent")
		if !errors.Is(err, cache.ErrMiss) || v != nil {
			t.Fatalf("Get = %q, %v; want nil, ErrMiss", v, err)
		}
	})

	t.Run("set then get returns the value", func(t *testing.T) {
		tests := []struct {
			name  string
			value []byte
		}{
			{"json", []byte(`{"number":5,"factorial_result":"120"}`)},
			{"binary", []byte{0, 1, 2, 255}},
			{"empty", []byte{}},
			{"large", bytes.Repeat([]byte("9"), 1<<20)},
		}
		c, ctx := newSubject(t).cache, t.Context()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := c.Set(ctx, tt.name, tt.value, time.Minute); err != nil {
					t.Fatalf("Set: %v", err)
				}
				got, err := c.Get(ctx, tt.name)
				if err != nil || !bytes.Equal(got, tt.value) {
					t.Fatalf("Get = %d bytes, %v; want the %d bytes set", len(got), err, len(tt.value))
				}
			})
		}
	})

	t.Run("set overwrites", func(t *testing.T) {
		c := newSubject(t).cache
		mustSet(t, c, "k", "one", 0)
		mustSet(t, c, "k", "two", 0)
		assertValue(t, c, "k", "two")
	})

	t.Run("delete removes and absent delete succeeds", func(t *testing.T) {
		c, ctx := newSubject(t).cache, t.Context()
		mustSet(t, c, "k", "v", time.Minute)
		for i := range 2 {
			if err := c.Delete(ctx, "k"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		assertMiss(t, c, "k")
	})

	t.Run("values expire after their ttl", func(t *testing.T) {
		s := newSubject(t)
		mustSet(t, s.cache, "short", "v", shortTTL)
		mustSet(t, s.cache, "long", "v", time.Hour)
		mustSet(t, s.cache, "forever", "v", 0)
		mustSet(t, s.cache, "negative", "v", -time.Second)
		assertValue(t, s.cache, "short", "v")
		s.advance(shortTTL + 200*time.Millisecond)
		assertMiss(t, s.cache, "short")
		for _, k := range []string{"long", "forever", "negative"} {
			assertValue(t, s.cache, k, "v")
		}
	})

	t.Run("set renews the ttl", func(t *testing.T) {
		s := newSubject(t)
		mustSet(t, s.cache, "k", "old", shortTTL)
		mustSet(t, s.cache, "k", "new", 0)
		s.advance(shortTTL + 200*time.Millisecond)
		assertValue(t, s.cache, "k", "new")
	})

	t.Run("values are copies", func(t *testing.T) {
		c, ctx := newSubject(t).cache, t.Context()
		in := []byte("original")
		if err := c.Set(ctx, "k", in, time.Minute); err != nil {
			t.Fatal(err)
		}
		copy(in, "XXXXXXXX")
		out, err := c.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		copy(out, "YYYYYYYY")
		assertValue(t, c, "k", "original")
	})

	t.Run("keys are independent", func(t *testing.T) {
		c := newSubject(t).cache
		for i := range 10 {
			mustSet(t, c, fmt.Sprintf("n:%d", i), fmt.Sprint(i*i), time.Minute)
		}
		for i := range 10 {
			assertValue(t, c, fmt.Sprintf("n:%d", i), fmt.Sprint(i*i))
		}
	})

	t.Run("cancelled context fails", func(t *testing.T) {
		c := newSubject(t).cache
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := c.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Set = %v, want context.Canceled", err)
		}
		if _, err := c.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Get = %v, want context.Canceled", err)
		}
		if err := c.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete = %v, want context.Canceled", err)
		}
	})

	t.Run("ping succeeds", func(t *testing.T) {
		if err := newSubject(t).cache.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func mustSet(t *testing.T, c cache.Cache, key, value string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(t.Context(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func assertValue(t *testing.T, c cache.Cache, key, want string) {
	t.Helper()
	got, err := c.Get(t.Context(), key)
	if err != nil || string(got) != want {
		t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
	}
}

func assertMiss(t *testing.T, c cache.Cache, key string) {
	t.Helper()
	if got, err := c.Get(t.Context(), key); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get(%q) = %q, %v; want ErrMiss", key, got, err)
	}
}
