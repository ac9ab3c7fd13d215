package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

var _ Cache = (*Memory)(nil)

// DefaultMaxEntries is the size of a Memory cache built with maxEntries <= 0.
const DefaultMaxEntries = 1024

// Memory is an in-process Cache: a least-recently-used map of at most maxEntries values,
// each with its own expiry. It is safe for concurrent use.
//
// golang-lru's expirable.LRU is not used: it has one TTL for the whole cache (Set takes one
// per value) and starts a clean-up goroutine that never stops. Here an expired value is
// dropped when it is read, and otherwise ages out of the LRU like any unused value.
type Memory struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, memEntry]
	now func() time.Time // replaced by tests
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewMemory returns an empty cache holding at most maxEntries values
// (DefaultMaxEntries if maxEntries <= 0).
func NewMemory(maxEntries int) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	l, err := simplelru.NewLRU[string, memEntry](maxEntries, nil)
	if err != nil { // only for a size <= 0, excluded above
		panic(fmt.Sprintf("cache: %v", err))
	}
	return &Memory{lru: l, now: time.Now}
}

// Get returns a copy of the value under key, or ErrMiss if it is absent or expired.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache: get %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(key)
	if !ok {
		return nil, ErrMiss
	}
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		m.lru.Remove(key)
		return nil, ErrMiss
	}
	return clone(e.value), nil
}

// Set stores a copy of value under key for ttl (no expiry if ttl <= 0), evicting the least
// recently used value if the cache is full.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: set %q: %w", key, err)
	}
	e := memEntry{value: clone(value)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl > 0 {
		e.expires = m.now().Add(ttl)
	}
	m.lru.Add(key, e)
	return nil
}

// Delete removes key.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: delete %q: %w", key, err)
	}
	m.mu.Lock()
	m.lru.Remove(key)
	m.mu.Unlock()
	return nil
}

// Ping always succeeds.
func (m *Memory) Ping(context.Context) error { return nil }

// Len returns the number of values held, expired ones included until they are read or evicted.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// clone copies b, keeping a non-nil empty slice non-nil.
func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }
