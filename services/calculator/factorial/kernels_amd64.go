//go:build amd64 && !purego

package factorial

import "golang.org/x/sys/cpu"

// useAVX512 turns on the assembly kernels; tests turn it off to run the pure-Go ones.
var useAVX512 = cpu.X86.HasAVX512F

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
