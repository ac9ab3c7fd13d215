package factorial

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// MaxN is the largest n that Write accepts. n! for MaxN has about 756 million digits, and
// computing it takes under three bytes of memory per digit.
const MaxN = 100_000_000

// ErrTooLarge is returned by Write for n > MaxN.
var ErrTooLarge = fmt.Errorf("factorial: n is larger than %d", MaxN)

// Write computes n! and writes its decimal text (no sign, no newline, no leading zeros) to w.
// progress, if not nil, is called with a fraction in [0,1] that never decreases, at least every
// few hundred milliseconds of work on large n, and finally with 1. Write returns the number of
// digits written. It stops promptly (well under a second) with ctx.Err() when ctx is cancelled.
func Write(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (digits int64, err error) {
	return WriteCores(ctx, n, w, progress, 0)
}

// WriteCores is Write with the computation spread over at most cores goroutines (0 or less:
// GOMAXPROCS, as Write does). A service that computes small requests beside a large one
// leaves itself a core this way: a large computation on every core holds each of them until
// the scheduler preempts it, and every step of a small request waits that long.
func WriteCores(ctx context.Context, n uint64, w io.Writer, progress func(float64), cores int) (digits int64, err error) {
	if n > MaxN {
		return 0, ErrTooLarge
	}
	if n <= smallMaxN {
		return writeSmall(ctx, n, w, progress)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t := newTask(ctx, progress)
	defer t.close()
	if cores > 0 && cores < t.workers {
		t.workers = cores
	}
	if n < parallelMinN {
		t.workers = 1
	}
	t.report(0)

	x, zeros, release := nat{1}, int64(0), func() {}
	if n >= 2 {
		if x, zeros, release, err = t.factorial(n); err != nil {
			return 0, err
		}
	}
	defer release()
	if digits, err = t.writeDecimal(w, x, zeros); err != nil {
		return digits, err
	}
	t.report(1)
	return digits, nil
}

// parallelMinN is the smallest n for which Write spreads the work over every core: below it,
// starting and waking goroutines costs more than the second core gives back. Measured with
// BenchmarkParallel, which times both from n = 30,000 to 10^6: on the development machine
// (2 cores, shared) one core is faster by 15 to 30% up to 100,000, they are even around
// 300,000, and every core is 30% faster at 10^6.
var parallelMinN uint64 = 300_000

// writeBuffer is the size of the chunks in which the text is written.
const writeBuffer = 256 << 10

// textPool keeps text buffers of small factorials for writeSmall.
var textPool = sync.Pool{New: func() any { return new([]byte) }}

// writeSmall is Write for n <= smallMaxN: the small engine, in the calling goroutine, takes a
// few milliseconds at most, so progress goes from 0 to 1 and cancellation is checked before
// and between chunks of text.
func writeSmall(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (digits int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if progress != nil {
		progress(0)
	}
	if n <= 20 {
		m, err := w.Write(wordFactorialTexts[n])
		if err == nil && m < len(wordFactorialTexts[n]) {
			err = io.ErrShortWrite
		}
		if err == nil && progress != nil {
			progress(1)
		}
		return int64(m), err
	}
	buf := textPool.Get().(*[]byte)
	*buf = AppendText((*buf)[:0], n)
	for text := *buf; len(text) > 0; {
		m, err := w.Write(text[:min(len(text), writeBuffer)])
		digits += int64(m)
		if err == nil && m < min(len(text), writeBuffer) {
			err = io.ErrShortWrite
		}
		if err == nil && m < len(text) {
			err = ctx.Err()
		}
		if err != nil {
			return digits, err
		}
		text = text[m:]
	}
	if cap(*buf) <= 1<<20 {
		textPool.Put(buf)
	}
	if progress != nil {
		progress(1)
	}
	return digits, nil
}

// writeDecimal writes the decimal text of x*10^zeros (x > 0) to w, most significant digits
// first.
func (t *task) writeDecimal(w io.Writer, x nat, zeros int64) (int64, error) {
	var written int64
	buf := make([]byte, 0, min(writeBuffer, len(x)*limbDigits+int(zeros)+limbDigits))
	flush := func() error {
		if err := t.err(); err != nil {
			return err
		}
		n, err := w.Write(buf)
		written += int64(n)
		if err == nil && n < len(buf) {
			err = io.ErrShortWrite
		}
		buf = buf[:0]
		return err
	}

	top := len(x) - 1
	buf = strconv.AppendUint(buf, uint64(x[top]), 10)
	for i := top - 1; i >= 0; i-- {
		if len(buf)+limbDigits > cap(buf) {
			if err := flush(); err != nil {
				return written, err
			}
			t.advance(writeBuffer / limbDigits)
		}
		buf = appendLimb(buf, x[i])
	}
	for ; zeros > 0; zeros-- {
		if len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return written, err
			}
		}
		buf = append(buf, '0')
	}
	if err := flush(); err != nil {
		return written, err
	}
	return written, nil
}

// pairs holds the two-digit decimal texts "00" to "99".
const pairs = "0001020304050607080910111213141516171819" +
	"2021222324252627282930313233343536373839" +
	"4041424344454647484950515253545556575859" +
	"6061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendLimb appends the six decimal digits of d < 10^6, with leading zeros.
func appendLimb(buf []byte, d uint32) []byte {
	a, b, c := d/10000, d/100%100, d%100
	return append(buf, pairs[2*a], pairs[2*a+1], pairs[2*b], pairs[2*b+1], pairs[2*c], pairs[2*c+1])
}
