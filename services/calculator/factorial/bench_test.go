package factorial

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"testing"
)

// BenchmarkWrite measures n! and its decimal text, written to io.Discard.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []uint64{10_000, 100_000, 1_000_000, 10_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Write(context.Background(), n, io.Discard, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMathBig is the baseline: math/big's MulRange and Text(10).
func BenchmarkMathBig(b *testing.B) {
	for _, n := range []int64{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				var x big.Int
				io.WriteString(io.Discard, x.MulRange(1, n).Text(10))
			}
		})
	}
}

// BenchmarkAppendText measures AppendText warm, for small n.
func BenchmarkAppendText(b *testing.B) {
	for _, n := range []uint64{100, 1000, 2000, 5000, 10_000, 15_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 100_000)
			for b.Loop() {
				buf = AppendText(buf[:0], n)
			}
		})
	}
}
