package factorial

import (
	"math/bits"
	"sync"
)

// The butterfly loops of the transforms, in pure Go (the ...Go functions) and, in assembly,
// eight lanes at a time where the CPU has AVX-512 (kernels_amd64.s) and four where it has
// AVX2 (kernels_avx2_amd64.s). kernels chooses, the best the CPU runs; the tests run every
// set the CPU runs.

// kernelSet names a set of butterfly loops.
type kernelSet int

const (
	pureGo kernelSet = iota
	avx2
	avx512
)

func (k kernelSet) String() string {
	return [...]string{"go", "avx2", "avx512"}[k]
}

// difKernel does decimation-in-frequency butterflies: x[j], y[j] = x[j]+y[j], (x[j]-y[j])*w[j].
func difKernel(x, y, w []uint64) {
	switch n := len(x) &^ 7; {
	case kernels == avx512 && n > 0:
		difAVX512(&x[0], &y[0], &w[0], n)
		x, y, w = x[n:], y[n:], w[n:]
	case kernels == avx2 && len(x) >= 4:
		n = len(x) &^ 3
		difAVX2(&x[0], &y[0], &w[0], n)
		x, y, w = x[n:], y[n:], w[n:]
	}
	difGo(x, y, w)
}

func difGo(x, y, w []uint64) {
	y, w = y[:len(x)], w[:len(x)]
	for j, u := range x {
		v := y[j]
		x[j] = addMod(u, v)
		y[j] = mulMod(subMod(u, v), w[j])
	}
}

// ditKernel does decimation-in-time butterflies with the twiddle factors r read backwards:
// with v = y[j]*r[len-1-j], x[j], y[j] = x[j]-v, x[j]+v. (r holds w^(h-j) for the inverse
// transform, which stands for -1/w^j.)
func ditKernel(x, y, r []uint64) {
	switch n := len(x) &^ 7; {
	case kernels == avx512 && n > 0:
		ditAVX512(&x[0], &y[0], &r[len(x)-1], n)
		x, y, r = x[n:], y[n:], r[:len(r)-n]
	case kernels == avx2 && len(x) >= 4:
		n = len(x) &^ 3
		ditAVX2(&x[0], &y[0], &r[len(x)-1], n)
		x, y, r = x[n:], y[n:], r[:len(r)-n]
	}
	ditGo(x, y, r)
}

func ditGo(x, y, r []uint64) {
	y, r = y[:len(x)], r[:len(x)]
	last := len(r) - 1
	for j, u := range x {
		v := mulMod(y[j], r[last-j])
		x[j] = subMod(u, v)
		y[j] = addMod(u, v)
	}
}

// difFineKernel is difKernel for j in [lo, hi) with w^j = coarse[j>>logS] * fine[j&(s-1)];
// lo and hi are multiples of s = len(fine) >= 8.
func difFineKernel(x, y, coarse, fine []uint64, logS, lo, hi int) {
	switch {
	case kernels == avx512 && lo < hi:
		difFineAVX512(&x[lo], &y[lo], &coarse[lo>>logS], &fine[0], hi-lo, logS)
		return
	case kernels == avx2 && lo < hi:
		difFineAVX2(&x[lo], &y[lo], &coarse[lo>>logS], &fine[0], hi-lo, logS)
		return
	}
	s := len(fine)
	for j := lo; j < hi; j += s {
		c := coarse[j>>logS]
		xs, ys := x[j:j+s], y[j:j+s]
		for i, f := range fine {
			u, v := xs[i], ys[i]
			xs[i] = addMod(u, v)
			ys[i] = mulMod(subMod(u, v), mulMod(c, f))
		}
	}
}

// ditFineKernel is ditKernel for j in [lo, hi) at a level above tableLog: the factor for j is
// coarse[hc-(j>>logS)] * fineInv[j&(s-1)], hc = len(coarse)-1, where fineInv holds the powers
// of 1/w, so that it stands for -1/w^j (coarse[hc] = -1).
func ditFineKernel(x, y, coarse, fineInv []uint64, logS, lo, hi int) {
	hc := len(coarse) - 1
	switch {
	case kernels == avx512 && lo < hi:
		ditFineAVX512(&x[lo], &y[lo], &coarse[hc-lo>>logS], &fineInv[0], hi-lo, logS)
		return
	case kernels == avx2 && lo < hi:
		ditFineAVX2(&x[lo], &y[lo], &coarse[hc-lo>>logS], &fineInv[0], hi-lo, logS)
		return
	}
	s := len(fineInv)
	for j := lo; j < hi; j += s {
		c := coarse[hc-j>>logS]
		xs, ys := x[j:j+s], y[j:j+s]
		for i, f := range fineInv {
			u, v := xs[i], mulMod(ys[i], mulMod(c, f))
			xs[i] = subMod(u, v)
			ys[i] = addMod(u, v)
		}
	}
}

// leafFactors holds the twiddle factors of the last three levels of forward (tail) and the
// first three of inverse (head) as the assembly reads them, two blocks of 8 at a time.
var leafFactors = sync.OnceValue(func() *struct{ tail, head [16]uint64 } {
	f := new(struct{ tail, head [16]uint64 })
	w8, w4 := levelTable(3), levelTable(2) // w8 = [1, w, w^2, w^3, -1] for a primitive 8th root w; w4 = [1, w^2, -1]
	for i := range 8 {
		f.tail[i] = w8[i%4]
		f.tail[8+i] = w4[i%2]
		f.head[i] = [2]uint64{w4[2], w4[1]}[i%2]
		f.head[8+i] = [4]uint64{w8[4], w8[3], w8[2], w8[1]}[i%4]
	}
	return f
})

// leafTail does the last levels of forward on each block of m <= 8 elements of a.
func leafTail(a []uint64, m int) {
	switch {
	case m == 8 && kernels == avx512 && len(a)%16 == 0:
		tailAVX512(&a[0], len(a), &leafFactors().tail[0])
		return
	case m == 8 && kernels == avx2 && len(a)%8 == 0:
		tailAVX2(&a[0], len(a), &leafFactors().tail[0])
		return
	}
	for ; m >= 2; m >>= 1 {
		h := m / 2
		tab := levelTable(bits.Len(uint(m)) - 1)[:h]
		for s := 0; s < len(a); s += m {
			difGo(a[s:s+h], a[s+h:s+m], tab)
		}
	}
}

// leafHead does the first levels of inverse on each block of m <= 8 elements of a.
func leafHead(a []uint64, m int) {
	switch {
	case m == 8 && kernels == avx512 && len(a)%16 == 0:
		headAVX512(&a[0], len(a), &leafFactors().head[0])
		return
	case m == 8 && kernels == avx2 && len(a)%8 == 0:
		headAVX2(&a[0], len(a), &leafFactors().head[0])
		return
	}
	for k := 2; k <= m; k <<= 1 {
		h := k / 2
		tab := levelTable(bits.Len(uint(k)) - 1)
		for s := 0; s < len(a); s += k {
			ditGo(a[s:s+h], a[s+h:s+k], tab[1:h+1])
		}
	}
}

// mulKernel sets dst[i] = a[i]*b[i]*scale.
func mulKernel(dst, a, b []uint64, scale uint64) {
	switch n := len(dst) &^ 7; {
	case kernels == avx512 && n > 0:
		mulAVX512(&dst[0], &a[0], &b[0], n, scale)
		dst, a, b = dst[n:], a[n:], b[n:]
	case kernels == avx2 && len(dst) >= 4:
		n = len(dst) &^ 3
		mulAVX2(&dst[0], &a[0], &b[0], n, scale)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	a, b = a[:len(dst)], b[:len(dst)]
	if scale == 1 {
		for i := range dst {
			dst[i] = mulMod(a[i], b[i])
		}
		return
	}
	for i := range dst {
		dst[i] = mulMod(mulMod(a[i], b[i]), scale)
	}
}

// fwd3Kernel does the radix-3 step of forward3 for one run: with w1 = base*fine[j] and omega
// a cube root of unity, x0, x1, x2 = s0, s1*w1, s2*w1^2 where s0 = x0+x1+x2,
// s1 = (x0-x2)+u, s2 = (x0-x1)-u and u = (x1-x2)*omega.
func fwd3Kernel(x0, x1, x2, fine []uint64, base, omega uint64) {
	switch n := len(x0) &^ 7; {
	case kernels == avx512 && n > 0:
		fwd3AVX512(&x0[0], &x1[0], &x2[0], &fine[0], n, base, omega)
		x0, x1, x2, fine = x0[n:], x1[n:], x2[n:], fine[n:]
	case kernels == avx2 && len(x0) >= 4:
		n = len(x0) &^ 3
		fwd3AVX2(&x0[0], &x1[0], &x2[0], &fine[0], n, base, omega)
		x0, x1, x2, fine = x0[n:], x1[n:], x2[n:], fine[n:]
	}
	x1, x2, fine = x1[:len(x0)], x2[:len(x0)], fine[:len(x0)]
	for j, a := range x0 {
		w1 := mulMod(base, fine[j])
		u := mulMod(subMod(x1[j], x2[j]), omega)
		y0 := addMod(addMod(a, x1[j]), x2[j])
		y1 := addMod(subMod(a, x2[j]), u)
		y2 := subMod(subMod(a, x1[j]), u)
		x0[j], x1[j], x2[j] = y0, mulMod(y1, w1), mulMod(y2, mulMod(w1, w1))
	}
}

// inv3Kernel undoes fwd3Kernel, but for the factor 3, with the inverse roots: v1 = x1*w1,
// v2 = x2*w1^2, u = (v1-v2)*omega; x0, x1, x2 = x0+v1+v2, (x0-v2)+u, (x0-v1)-u.
func inv3Kernel(x0, x1, x2, fine []uint64, base, omega uint64) {
	switch n := len(x0) &^ 7; {
	case kernels == avx512 && n > 0:
		inv3AVX512(&x0[0], &x1[0], &x2[0], &fine[0], n, base, omega)
		x0, x1, x2, fine = x0[n:], x1[n:], x2[n:], fine[n:]
	case kernels == avx2 && len(x0) >= 4:
		n = len(x0) &^ 3
		inv3AVX2(&x0[0], &x1[0], &x2[0], &fine[0], n, base, omega)
		x0, x1, x2, fine = x0[n:], x1[n:], x2[n:], fine[n:]
	}
	x1, x2, fine = x1[:len(x0)], x2[:len(x0)], fine[:len(x0)]
	for j, v0 := range x0 {
		w1 := mulMod(base, fine[j])
		v1, v2 := mulMod(x1[j], w1), mulMod(x2[j], mulMod(w1, w1))
		u := mulMod(subMod(v1, v2), omega)
		x0[j] = addMod(addMod(v0, v1), v2)
		x1[j] = addMod(subMod(v0, v2), u)
		x2[j] = subMod(subMod(v0, v1), u)
	}
}
