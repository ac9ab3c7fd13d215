package heap

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		scanned, headroom uint64
		want              int
	}{
		{8 << 20, 32 << 20, 400},    // a small live heap grows by the headroom
		{64 << 20, 32 << 20, 100},   // a larger one by itself, as Go's default
		{32 << 20, 32 << 20, 100},   // the same either way
		{0, 32 << 20, 800},          // nothing measured yet: Go's minimum heap, 4 MB
		{1 << 20, 64 << 20, 1600},   // a live heap under 4 MB counts as 4 MB, as Go's minimum
		{10 << 20, 25 << 20, 250},   // rounded down: never more than the headroom
		{3 << 20, 1 << 20, 100},     // never below Go's default
		{100 << 20, 200 << 20, 200}, // in between
	} {
		if got := Percent(c.scanned, c.headroom); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.scanned, c.headroom, got, c.want)
		}
	}
}

func TestKeepLeavesTheOperatorsGOGC(t *testing.T) {
	if Keep(Config{Headroom: 32 << 20}, []string{"PATH=/bin", "GOGC=50"}) {
		t.Error("Keep acted although GOGC was set")
	}
	if Keep(Config{Headroom: 0}, nil) {
		t.Error("Keep acted with no headroom")
	}
}

// TestKeepCollectsLessOften allocates the same garbage, with a small live heap, before and
// after Keep: with 64 MB of headroom the collector must run several times less often, and
// let the heap grow by the headroom and no more. Then, with a live heap larger than Go's
// minimum, GOGC follows it from the next collection.
func TestKeepCollectsLessOften(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	before := collections(256 << 20)
	if !Keep(Config{Headroom: 64 << 20}, nil) {
		t.Fatal("Keep did not act")
	}
	if p := gcPercent(); p != 1600 { // 64 MB over Go's minimum heap, 4 MB
		t.Fatalf("GOGC %d after Keep, want 1600", p)
	}
	after := collections(256 << 20)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t.Logf("collections for 256 MB of garbage: %d before Keep, %d after (next at %d MB)", before, after, m.NextGC>>20)
	if after*4 > before {
		t.Errorf("%d collections after Keep against %d before: want at most a quarter", after, before)
	}
	if m.NextGC > 72<<20 { // the live heap here is well under 8 MB
		t.Errorf("next collection at %d MB: want the headroom, 64 MB, and no more than the live heap above it", m.NextGC>>20)
	}

	live := make([]*[1 << 10]byte, 32<<10) // 32 MB live, and its pointers scanned
	for i := range live {
		live[i] = new([1 << 10]byte)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() == 1600 {
		if time.Now().After(deadline) {
			t.Fatal("GOGC unchanged ten seconds after collections with 32 MB live")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// 64 MB over 32 MB and a little more (the slice, stacks, globals): a little under 200.
	if p := gcPercent(); p < 150 || p > 200 {
		t.Errorf("GOGC %d with 32 MB live and 64 MB of headroom, want about 200", p)
	}
	runtime.KeepAlive(live)
}

var sink []byte

// collections allocates n bytes of garbage in 1 KB pieces and counts the collections meanwhile.
func collections(n int) uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	start := m.NumGC
	for range n >> 10 {
		sink = make([]byte, 1<<10)
	}
	runtime.ReadMemStats(&m)
	return m.NumGC - start
}

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
