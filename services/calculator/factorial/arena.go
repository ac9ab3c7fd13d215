package factorial

import "unsafe"

// Large buffers are taken from the operating system directly (arena_unix.go) and handed back
// as soon as they are done with, instead of being left to the garbage collector: the collector
// lets the heap grow to about twice what is live before it runs, which for n near MaxN would
// be gigabytes. Pages of such a buffer count in the resident set only once they are touched.

// mappedMin is the size in bytes from which a buffer is mapped rather than taken from the heap.
// Mapping costs a system call and a fault per page touched, as for fresh heap memory; it is
// the memory that is handed back at once instead of waiting for the collector.
const mappedMin = 64 << 10

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
