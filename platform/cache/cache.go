// Package cache keeps small values (the API's JSON of finished results) for a while, in
// Redis when several API replicas must share it, or in process memory otherwise.
//
// Both implementations keep the same promises, checked by one contract suite: Get of an
// absent or expired key is ErrMiss; a ttl of zero (or less) means no expiry; values go in
// and come out as copies, so callers may reuse or modify their slices.
package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by Get when the key is absent or expired. Compare with errors.Is.
var ErrMiss = errors.New("cache miss")

// Cache is the full set of operations every implementation provides. Consumers may
// declare narrower interfaces of their own.
type Cache interface {
	// Get returns a copy of the value stored under key, or ErrMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores a copy of value under key for ttl; ttl <= 0 means no expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the cache is reachable, for readiness checks.
	Ping(ctx context.Context) error
}

// Config chooses and sizes the cache; its fields are the environment variables in their tags.
type Config struct {
	RedisURL string `env:"REDIS_URL"`                            // unset: in-process cache
	Prefix   string `env:"CACHE_PREFIX" envDefault:"factorial:"` // Redis key prefix
	Entries  int    `env:"CACHE_ENTRIES" envDefault:"1000"`      // size of the in-process cache
}

// Open returns Redis when cfg.RedisURL is set (keys under cfg.Prefix), or else an in-process
// cache of at most cfg.Entries values; close releases what Open made.
func Open(cfg Config) (c Cache, close func() error, err error) {
	if cfg.RedisURL == "" {
		if cfg.Entries < 1 {
			return nil, nil, errors.New("CACHE_ENTRIES must be 1 or more")
		}
		return NewMemory(cfg.Entries), func() error { return nil }, nil
	}
	r, err := OpenRedis(cfg.RedisURL, cfg.Prefix)
	if err != nil {
		return nil, nil, err
	}
	return r, r.Close, nil
}
