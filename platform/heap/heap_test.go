package heap

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
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
		if got := percent(c.scanned, c.headroom); got != c.want {
			t.Errorf("percent(%d, %d) = %d, want %d", c.scanned, c.headroom, got, c.want)
		}
	}
}

func TestKeepLeavesTheOperatorsGOGC(t *testing.T) {
	if Keep(Config{Headroom: 32 << 20}, true) {
		t.Error("Keep acted although GOGC was set")
	}
	if Keep(Config{Headroom: 0}, false) {
		t.Error("Keep acted with no headroom")
	}
}

// TestKeepCollectsLessOften: with a small live heap, Keep with 64 MB of headroom moves the
// collector's next goal from Go's minimum (a few MB: a collection every few MB allocated) to
// about the headroom above what is live, no further. Then, with a live heap larger than Go's
// minimum, GOGC follows it. The goal is read after a collection the test forces, so that it
// is what the collector would do, whatever the machine's load did to the collections that ran
// while the test allocated (counting those gave 3 to 70 for the same 256 MB on a loaded VM).
func TestKeepCollectsLessOften(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { current.Store(nil); debug.SetGCPercent(prev) })
	goal := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.NextGC
	}
	before := goal()
	if before > 16<<20 {
		t.Fatalf("next collection at %d MB before Keep, with GOGC=100 and a small live heap", before>>20)
	}
	if !Keep(Config{Headroom: 64 << 20}, false) {
		t.Fatal("Keep did not act")
	}
	// The keeper sets GOGC a moment after each collection, from what that collection found
	// live (a few MB here; one that runs while the program allocates marks more).
	eventually(t, func() (bool, string) {
		after := goal()
		return after >= 4*before && after >= 60<<20 && after <= 80<<20,
			fmt.Sprintf("next collection at %d MB with Keep (at %d MB before it), with a few MB live and 64 MB of headroom",
				after>>20, before>>20)
	})
	t.Logf("collections for 256 MB of garbage with Keep: %d", collections(256<<20))

	live := make([]*[1 << 10]byte, 32<<10) // 32 MB live, and its pointers scanned
	for i := range live {
		live[i] = new([1 << 10]byte)
	}
	// 64 MB over 32 MB and a little more (the slice, stacks, globals): a little under 200.
	eventually(t, func() (bool, string) {
		runtime.GC()
		p := gcPercent()
		return p >= 150 && p <= 200, fmt.Sprintf("GOGC %d with 32 MB live and 64 MB of headroom, want about 200", p)
	})
	runtime.KeepAlive(live)
}

// eventually calls check, which may collect, until it holds; a cleanup that adjusts GOGC runs
// a moment after the collection it follows. It fails the test with check's last word after
// ten seconds.
func eventually(t *testing.T, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, what := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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

// A negative headroom is refused, naming the variable, rather than taken for Go's default.
func TestValidate(t *testing.T) {
	if err := (Config{Headroom: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "GC_HEADROOM_BYTES") {
		t.Errorf("GC_HEADROOM_BYTES=-1: %v, want an error naming it", err)
	}
	for _, h := range []int64{0, 32 << 20} {
		if err := (Config{Headroom: h}).Validate(); err != nil {
			t.Errorf("GC_HEADROOM_BYTES=%d: %v", h, err)
		}
	}
}
