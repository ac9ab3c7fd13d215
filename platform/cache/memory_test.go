package cache_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/cache"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMemory(maxEntries int) (*cache.Memory, *fakeClock) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := cache.NewMemory(maxEntries)
	m.SetClock(clock.Now)
	return m, clock
}

func TestMemoryContract(t *testing.T) {
	runContract(t, func(*testing.T) subject {
		m, clock := newMemory(100)
		return subject{cache: m, advance: clock.Advance}
	})
}

func TestMemoryEvictsTheLeastRecentlyUsed(t *testing.T) {
	m, _ := newMemory(3)
	for i := range 3 {
		mustSet(t, m, fmt.Sprint(i), "v", 0)
	}
	assertValue(t, m, "0", "v") // 1 is now the least recently used
	mustSet(t, m, "3", "v", 0)
	assertMiss(t, m, "1")
	for _, k := range []string{"0", "2", "3"} {
		assertValue(t, m, k, "v")
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3", m.Len())
	}
}

func TestMemoryDropsExpiredValuesOnRead(t *testing.T) {
	m, clock := newMemory(10)
	mustSet(t, m, "k", "v", time.Second)
	clock.Advance(time.Second)
	assertMiss(t, m, "k")
	if m.Len() != 0 {
		t.Errorf("Len = %d after reading an expired value, want 0", m.Len())
	}
}

func TestNewMemoryDefaultsItsSize(t *testing.T) {
	m := cache.NewMemory(0)
	for i := range cache.DefaultMaxEntries + 1 {
		mustSet(t, m, fmt.Sprint(i), "v", 0)
	}
	if m.Len() != cache.DefaultMaxEntries {
		t.Errorf("Len = %d, want %d", m.Len(), cache.DefaultMaxEntries)
	}
}
