package factorial

import (
	"context"
	"strconv"
)

// AppendText appends the decimal text of n! (no sign, no newline, no leading zeros) to dst and
// returns the extended slice. It computes in the calling goroutine only, with no context and no
// progress: it is meant for small n (up to a few tens of thousands it takes milliseconds at
// most), where starting goroutines or a pipe would cost more than the product. It is correct
// for every n <= MaxN and panics for a larger n, which callers reject beforehand (Write
// returns ErrTooLarge). It is safe for concurrent use.
func AppendText(dst []byte, n uint64) []byte {
	if n > MaxN {
		panic(ErrTooLarge)
	}
	if n <= smallMaxN {
		return appendSmall(dst, n)
	}
	x, zeros, release := nat{1}, int64(0), func() {}
	if n >= 2 {
		x, zeros, release, _ = newSerialTask().factorial(n) // a serial task is never cancelled
	}
	defer release()
	dst = appendDecimal(dst, x)
	for ; zeros > 0; zeros-- {
		dst = append(dst, '0')
	}
	return dst
}

// newSerialTask returns a task that runs in the calling goroutine and cannot be cancelled.
func newSerialTask() *task {
	t := &task{ctx: context.Background(), release: func() bool { return false }, workers: 1}
	t.total.Store(1)
	return t
}

// appendDecimal appends the decimal text of x (x > 0) to dst.
func appendDecimal(dst []byte, x nat) []byte {
	top := len(x) - 1
	dst = strconv.AppendUint(dst, uint64(x[top]), 10)
	dst = grow(dst, top*limbDigits)
	for i := top - 1; i >= 0; i-- {
		dst = appendLimb(dst, x[i])
	}
	return dst
}

// grow makes room for n more bytes in dst.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		dst = append(dst[:cap(dst)], make([]byte, n-(cap(dst)-len(dst)))...)[:len(dst)]
	}
	return dst
}
