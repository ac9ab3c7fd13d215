package factorial

import (
	"sync"
	"unsafe"
)

// Large buffers are taken from the operating system directly (arena_unix.go) and handed back
// as soon as they are done with, instead of being left to the garbage collector: the collector
// lets the heap grow to about twice what is live before it runs, which for n near MaxN would
// be gigabytes. Pages of such a buffer count in the resident set only once they are touched.

// mappedMin is the size in bytes from which a buffer is mapped rather than taken from the heap.
// Mapping costs a system call and a fault per page touched, as for fresh heap memory; it is
// the memory that is handed back at once instead of waiting for the collector. Below it, a
// computation's buffers come from the heap, where the next computation finds them warm.
// Measured with BenchmarkMappedMin (Write, warm, n = 10,000 to 100,000, 64 KiB to 4 MiB; an
// AMD EPYC with AVX-512, best of 25): with 64 KiB, n = 10,200 (whose buffers first reach
// 64 KiB) to 20,000 took 1.7 to 2 times as long as with 256 KiB, slower than the small engine
// and than GMP; 1 MiB also takes 0.7 of 64 KiB's time at 50,000 and 100,000 (256 KiB: 0.9);
// 4 MiB gains nothing more. The heap then holds at most a few MiB of them, against the
// megabytes of text of the n whose buffers are that large. (A variable only so that the
// benchmark can move it.)
var mappedMin = 1 << 20

// words is a buffer of n zeroed words and the function that releases it. Nothing may use the
// buffer after release.
func words(n int) (buf []uint64, release func()) {
	if n*8 >= mappedMin {
		if b, release, ok := mapWords(n); ok {
			return b, release
		}
	}
	return make([]uint64, n), func() {}
}

// limbsOf returns the words of a, seen as base-10^6 limbs: twice as many, sharing storage. A
// value is held as uint32 limbs and transformed as uint64 words in the same memory, in place:
// see expand and carryOut.
func limbsOf(a []uint64) nat {
	if len(a) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&a[0])), 2*len(a))
}

// expand stores the limbs x, held at the start of limbsOf(a), as words of a, in place, and
// zeroes the rest of a. Going from the most significant limb down, each word overwrites only
// limbs already read (word i holds limbs 2i and 2i+1).
func expand(a []uint64, l int) {
	x := limbsOf(a)[:l]
	for i := l - 1; i >= 0; i-- {
		a[i] = uint64(x[i])
	}
	clear(a[l:])
}

// bufferCache keeps the transform buffers of the heap products (multiply.go) for reuse within
// one computation: the product trees need buffers of a few sizes over and over, and a fresh
// mapping costs a page fault per page. release hands them all back.
type bufferCache struct {
	mu   sync.Mutex
	free map[int][][]uint64 // by length
	rel  map[*uint64]func()
}

// get returns a buffer of n words, not zeroed.
func (c *bufferCache) get(n int) []uint64 {
	c.mu.Lock()
	if bufs := c.free[n]; len(bufs) > 0 {
		b := bufs[len(bufs)-1]
		c.free[n] = bufs[:len(bufs)-1]
		c.mu.Unlock()
		return b
	}
	c.mu.Unlock()
	b, release := words(n)
	c.mu.Lock()
	if c.rel == nil {
		c.rel = make(map[*uint64]func())
	}
	c.rel[&b[0]] = release
	c.mu.Unlock()
	return b
}

// put returns b, from get, for reuse.
func (c *bufferCache) put(b []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.free == nil {
		c.free = make(map[int][][]uint64)
	}
	c.free[len(b)] = append(c.free[len(b)], b)
}

// release hands back every buffer; none may be in use.
func (c *bufferCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rel {
		r()
	}
	c.free, c.rel = nil, nil
}
