package cache

import "time"

// SetClock makes m read the time from now, so tests can move it forward.
func (m *Memory) SetClock(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = now
}
