//go:build amd64 && !purego

package factorial

import "golang.org/x/sys/cpu"

// kernels is the set of butterfly loops in use: the best the CPU runs. Tests move it to run
// each of supportedKernels.
var kernels = supportedKernels()[0]

// supportedKernels returns the sets of butterfly loops the CPU runs, the best first.
func supportedKernels() []kernelSet {
	var ks []kernelSet
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, avx2)
	}
	return append(ks, pureGo)
}

//go:noescape
func difAVX512(x, y, w *uint64, n int)

//go:noescape
func ditAVX512(x, y, rlast *uint64, n int)

//go:noescape
func difFineAVX512(x, y, coarse, fine *uint64, n, logS int)

//go:noescape
func ditFineAVX512(x, y, coarseTop, fine *uint64, n, logS int)

//go:noescape
func tailAVX512(a *uint64, n int, w *uint64)

//go:noescape
func headAVX512(a *uint64, n int, w *uint64)

//go:noescape
func mulAVX512(dst, a, b *uint64, n int, scale uint64)

//go:noescape
func fwd3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64)

//go:noescape
func inv3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64)

//go:noescape
func difAVX2(x, y, w *uint64, n int)

//go:noescape
func ditAVX2(x, y, rlast *uint64, n int)

//go:noescape
func difFineAVX2(x, y, coarse, fine *uint64, n, logS int)

//go:noescape
func ditFineAVX2(x, y, coarseTop, fine *uint64, n, logS int)

//go:noescape
func tailAVX2(a *uint64, n int, w *uint64)

//go:noescape
func headAVX2(a *uint64, n int, w *uint64)

//go:noescape
func mulAVX2(dst, a, b *uint64, n int, scale uint64)

//go:noescape
func fwd3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)

//go:noescape
func inv3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)
