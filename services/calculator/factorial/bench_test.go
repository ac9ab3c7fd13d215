package factorial

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
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

// BenchmarkKernels measures Write with each set of kernels the CPU runs.
func BenchmarkKernels(b *testing.B) {
	defer func(k kernelSet) { kernels = k }(kernels)
	for _, n := range []uint64{100_000, 1_000_000, 10_000_000} {
		for _, k := range supportedKernels() {
			b.Run(fmt.Sprintf("%d/%s", n, k), func(b *testing.B) {
				kernels = k
				for b.Loop() {
					if _, err := Write(context.Background(), n, io.Discard, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
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
	for _, n := range []uint64{100, 300, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 100_000)
			for b.Loop() {
				buf = AppendText(buf[:0], n)
			}
		})
	}
}

// BenchmarkKaratsubaThresholds times dmul and dsqr of n limbs with each threshold, to choose
// karatsubaMin and sqrKaratsubaMin.
func BenchmarkKaratsubaThresholds(b *testing.B) {
	defer func(m, s int) { karatsubaMin, sqrKaratsubaMin = m, s }(karatsubaMin, sqrKaratsubaMin)
	for _, l := range []int{128, 256, 512, 1024, 2048} {
		x, y := randomDnat(l, 1), randomDnat(l, 2)
		z := make(dnat, 2*l)
		scratch := make([]uint64, dmulScratch(l, l))
		for _, th := range []int{48, 64, 96, 128, 160, 192} {
			b.Run(fmt.Sprintf("mul/%d/threshold=%d", l, th), func(b *testing.B) {
				karatsubaMin = th
				for b.Loop() {
					dmul(z, x, y, scratch)
				}
			})
			b.Run(fmt.Sprintf("sqr/%d/threshold=%d", l, th), func(b *testing.B) {
				sqrKaratsubaMin = th
				for b.Loop() {
					dsqr(z, x, scratch)
				}
			})
		}
	}
}

// BenchmarkSmallPaths times the small engine's ways: from 20! limb by limb against the
// product path around directMaxN, and multiplying 2..n against multiplying primes around
// productMaxN.
func BenchmarkSmallPaths(b *testing.B) {
	defer func(m uint64) { productMaxN = m }(productMaxN)
	var buf []byte
	for _, n := range []uint64{40, 60, 80, 100} {
		b.Run(fmt.Sprintf("%d/direct", n), func(b *testing.B) {
			for b.Loop() {
				buf = appendDirect(buf[:0], n)
			}
		})
		b.Run(fmt.Sprintf("%d/numbers", n), func(b *testing.B) {
			w := new(smallWork)
			for b.Loop() {
				m, _ := w.factorial(n)
				buf = appendDnat(buf[:0], m)
			}
		})
	}
	w := new(smallWork)
	for _, n := range []uint64{200, 300, 400, 500, 600} {
		for _, way := range []struct {
			name string
			max  uint64
		}{{"numbers", n}, {"primes", 0}} {
			b.Run(fmt.Sprintf("%d/%s", n, way.name), func(b *testing.B) {
				productMaxN = way.max
				for b.Loop() {
					w.factorial(n)
				}
			})
		}
	}
}

// BenchmarkEngines times the small engine against the large one (in one goroutine with each
// set of kernels the CPU runs, and in Write with every core and the best kernels) around
// smallMaxN.
func BenchmarkEngines(b *testing.B) {
	defer func(k kernelSet) { kernels = k }(kernels)
	for _, n := range []uint64{5_000, 7_500, 9_000, 10_000, 11_000, 12_000, 13_000, 15_000, 17_500, 20_000, 22_500, 25_000, 27_500, 30_000, 35_000, 40_000, 50_000, 60_000} {
		buf := make([]byte, 0, 300_000)
		b.Run(fmt.Sprintf("%d/small", n), func(b *testing.B) {
			w := new(smallWork)
			for b.Loop() {
				m, _ := w.factorial(n)
				buf = appendDnat(buf[:0], m)
			}
		})
		for _, k := range supportedKernels() {
			b.Run(fmt.Sprintf("%d/large-%s", n, k), func(b *testing.B) {
				kernels = k
				for b.Loop() {
					x, _, release, _ := newSerialTask().factorial(n)
					buf = appendDecimal(buf[:0], x)
					release()
				}
			})
		}
		kernels = supportedKernels()[0]
		b.Run(fmt.Sprintf("%d/large-parallel", n), func(b *testing.B) {
			defer func(m uint64) { smallMaxN = m }(smallMaxN)
			smallMaxN = 0
			for b.Loop() {
				if _, err := Write(context.Background(), n, io.Discard, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// randomDnat returns a dnat of l random limbs.
func randomDnat(l int, seed uint64) dnat {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make(dnat, l)
	for i := range x {
		x[i] = rng.Uint64N(dBase)
	}
	return x
}

// BenchmarkTreeThreshold times the product trees of the groups of n! for n = 10^6, in one
// goroutine, with each value of treeSmallWords.
func BenchmarkTreeThreshold(b *testing.B) {
	defer func(v int) { treeSmallWords = v }(treeSmallWords)
	groups, _ := exponentGroups(1_000_000)
	for _, words := range []int{256, 512, 1024, 2048, 4096, 8192} {
		b.Run(fmt.Sprintf("words=%d", words), func(b *testing.B) {
			treeSmallWords = words
			t := newSerialTask()
			for b.Loop() {
				for _, g := range groups {
					t.product(g)
				}
			}
		})
	}
}

// BenchmarkParallel times Write with one core and with every core, to choose parallelMinN.
func BenchmarkParallel(b *testing.B) {
	defer func(v uint64) { parallelMinN = v }(parallelMinN)
	for _, n := range []uint64{30_000, 100_000, 300_000, 1_000_000} {
		for _, way := range []struct {
			name string
			min  uint64
		}{{"one-core", MaxN + 1}, {"every-core", 0}} {
			b.Run(fmt.Sprintf("%d/%s", n, way.name), func(b *testing.B) {
				parallelMinN = way.min
				for b.Loop() {
					if _, err := Write(context.Background(), n, io.Discard, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLeafWords times the small engine with each length of the product trees' leaves.
func BenchmarkLeafWords(b *testing.B) {
	defer func(v int) { dLeafWords = v }(dLeafWords)
	w := new(smallWork)
	for _, n := range []uint64{100, 300, 1000, 2000} {
		for _, leaf := range []int{8, 16, 32} {
			b.Run(fmt.Sprintf("%d/leaf=%d", n, leaf), func(b *testing.B) {
				dLeafWords = leaf
				for b.Loop() {
					w.factorial(n)
				}
			})
		}
	}
}

// BenchmarkMappedMin times Write, warm, with each size from which buffers are mapped rather
// than taken from the heap, to choose mappedMin.
func BenchmarkMappedMin(b *testing.B) {
	defer func(v int) { mappedMin = v }(mappedMin)
	for _, n := range []uint64{10_000, 10_200, 15_000, 20_000, 50_000, 100_000} {
		for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			b.Run(fmt.Sprintf("%d/mapped=%dKiB", n, size>>10), func(b *testing.B) {
				mappedMin = size
				for b.Loop() {
					if _, err := Write(context.Background(), n, io.Discard, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
