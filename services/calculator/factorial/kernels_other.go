//go:build !amd64 || purego

package factorial

// Without assembly, the pure-Go kernels run everywhere.
var kernels = pureGo

// supportedKernels returns the sets of butterfly loops that run here: the pure-Go ones.
func supportedKernels() []kernelSet { return []kernelSet{pureGo} }

func difAVX512(x, y, w *uint64, n int)                               { panic("unreachable") }
func ditAVX512(x, y, rlast *uint64, n int)                           { panic("unreachable") }
func difFineAVX512(x, y, coarse, fine *uint64, n, logS int)          { panic("unreachable") }
func ditFineAVX512(x, y, coarseTop, fine *uint64, n, logS int)       { panic("unreachable") }
func tailAVX512(a *uint64, n int, w8 *uint64)                        { panic("unreachable") }
func headAVX512(a *uint64, n int, w8 *uint64)                        { panic("unreachable") }
func mulAVX512(dst, a, b *uint64, n int, scale uint64)               { panic("unreachable") }
func fwd3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64) { panic("unreachable") }
func inv3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64) { panic("unreachable") }
func difAVX2(x, y, w *uint64, n int)                                 { panic("unreachable") }
func ditAVX2(x, y, rlast *uint64, n int)                             { panic("unreachable") }
func difFineAVX2(x, y, coarse, fine *uint64, n, logS int)            { panic("unreachable") }
func ditFineAVX2(x, y, coarseTop, fine *uint64, n, logS int)         { panic("unreachable") }
func tailAVX2(a *uint64, n int, w8 *uint64)                          { panic("unreachable") }
func headAVX2(a *uint64, n int, w8 *uint64)                          { panic("unreachable") }
func mulAVX2(dst, a, b *uint64, n int, scale uint64)                 { panic("unreachable") }
func fwd3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)   { panic("unreachable") }
func inv3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)   { panic("unreachable") }
