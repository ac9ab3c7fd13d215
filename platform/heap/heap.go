// Package heap sets how far a process's Go heap grows between collections.
//
// Go collects when the heap has grown by the live heap since the last collection (GOGC=100;
// a heap of 4 MB at least). A server whose live heap is small but which allocates steadily, as
// net/http does for every request, then collects many times a second and marks the same few
// megabytes each time: the standalone process holds about 8 MB, a cached read allocates
// about 2.5 KB, and at 31,000 reads a second it collected ten times a second. Keep lets the
// heap grow by a fixed headroom instead while that is more than the live heap: a few tens of
// megabytes of memory for that CPU, and Go's own rule again once the live heap is larger.
package heap

import (
	"errors"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Config is the setting; its field is an environment variable.
type Config struct {
	// Headroom is how far the heap may grow between collections when the live heap is
	// smaller (0: Go's default, the live heap).
	Headroom int64 `env:"GC_HEADROOM_BYTES" envDefault:"33554432"`
}

// Validate checks what parsing alone cannot.
func (c Config) Validate() error {
	if c.Headroom < 0 {
		return errors.New("GC_HEADROOM_BYTES must be 0 (Go's default) or more")
	}
	return nil
}

// Keep makes the collector let the heap grow by at least cfg.Headroom bytes between
// collections, or by the live heap when that is larger (GOGC=100), and reports whether it
// does: not when the operator set GOGC (gogcSet). A GOMEMLIMIT applies either way. A
// program's run calls it once, at start.
func Keep(cfg Config, gogcSet bool) bool {
	if cfg.Headroom <= 0 || gogcSet {
		return false
	}
	k := &keeper{headroom: uint64(cfg.Headroom), scanned: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	current.Store(k)
	k.adjust() // from the last collection's figures, if there was one
	k.arm()
	return true
}

// current is the keeper in force: one per process, the last Keep's.
var current atomic.Pointer[keeper]

type keeper struct {
	headroom uint64
	scanned  []metrics.Sample // what GOGC is a percentage of: the live heap, stacks and globals
}

// arm makes adjust run after the next collection, while k is the keeper in force: the
// cleanup of an object nothing refers to runs once a collection has found it unreachable,
// and arms the next.
func (k *keeper) arm() {
	runtime.AddCleanup(new(sentinel), func(k *keeper) {
		if current.Load() == k {
			k.adjust()
			k.arm()
		}
	}, k)
}

// sentinel has a pointer so that it is never batched with other small objects, which would
// keep it alive (runtime.AddCleanup).
type sentinel struct{ _ *byte }

// adjust sets the GOGC of the next collection from what the last one found.
func (k *keeper) adjust() {
	metrics.Read(k.scanned)
	var scanned uint64
	for _, s := range k.scanned {
		scanned += s.Value.Uint64()
	}
	debug.SetGCPercent(percent(scanned, k.headroom))
}

// percent is the GOGC that lets the heap grow by headroom or by scanned, whichever is larger,
// where scanned is the live heap, the goroutines' stacks and the globals of the last
// collection: Go lets the heap grow by GOGC percent of those, and no less than to GOGC
// percent of 4 MB (its minimum heap, which scales with GOGC).
func percent(scanned, headroom uint64) int {
	return int(max(100, headroom*100/max(scanned, minimumHeap)))
}

// minimumHeap is the runtime's smallest heap goal at GOGC=100 (defaultHeapMinimum).
const minimumHeap = 4 << 20
