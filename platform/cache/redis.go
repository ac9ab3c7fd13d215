package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/factorial-service/factorial/platform/telemetry"
)

var _ Cache = (*Redis)(nil)

// Redis is a Cache in Redis (or Valkey): every key is stored as prefix+key, so several
// services or test runs can share one database.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache on client whose keys all start with prefix (for example
// "factorial:api:"). The caller keeps ownership of client.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// OpenRedis connects to the redis:// or rediss:// URL in rawURL (the REDIS_URL setting).
// It does not contact the server: call Ping. Close the cache to close the connection pool.
func OpenRedis(rawURL, prefix string) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: REDIS_URL %s is not a valid redis:// URL: %w", redact(rawURL), err)
	}
	client := redis.NewClient(opts)
	if err := telemetry.InstrumentRedis(client); err != nil { // a span per command while tracing is on
		_ = client.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	return NewRedis(client, prefix), nil
}

// Close closes the client, which OpenRedis created (after NewRedis, it is the caller's).
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("cache: close: %w", err)
	}
	return nil
}

// Get returns the value under key, or ErrMiss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("cache: get %q: %w", key, err)
	}
	return b, nil
}

// Set stores value under key for ttl (no expiry if ttl <= 0; Redis keeps milliseconds).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	switch {
	case ttl <= 0:
		ttl = 0 // go-redis reads a negative ttl as KEEPTTL
	case ttl < time.Millisecond:
		ttl = time.Millisecond
	}
	if err := r.client.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("cache: set %q: %w", key, err)
	}
	return nil
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("cache: delete %q: %w", key, err)
	}
	return nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache: ping redis: %w", err)
	}
	return nil
}

// redact hides the password of a URL, or the whole value if it does not parse.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("%q", u.Redacted())
}
