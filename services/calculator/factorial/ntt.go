package factorial

import (
	"math/bits"
	"sync"
)

// Number-theoretic transforms modulo the prime p = 2^64 - 2^32 + 1.
//
// This prime has roots of unity of every power-of-two order up to 2^32, and its special form
// makes reduction of a 128-bit product cheap (2^64 ≡ 2^32-1 and 2^96 ≡ -1 mod p). Values are
// kept reduced lazily: any 64-bit word stands for its residue, and only results are made
// canonical (see canonical).
//
// The forward transform is a decimation-in-frequency (Gentleman–Sande) transform that takes
// natural order to bit-reversed order; the inverse is a decimation-in-time (Cooley–Tukey)
// transform that takes bit-reversed order back to natural order. Pointwise products in between
// do not care about the order, so no bit-reversal permutation is ever done.

const (
	modulus = 0xFFFFFFFF00000001
	epsilon = 0xFFFFFFFF // 2^64 mod p

	// generator generates the multiplicative group modulo p.
	generator = 7

	// tableLog is the largest transform level whose twiddle factors are kept in a table;
	// larger levels combine a table entry with a small per-level table.
	tableLog = 17

	// leafLog is the size (log2) below which a transform runs iteratively in one goroutine;
	// it is also the granularity of progress reports and cancellation checks.
	leafLog = 12

	// parallelLog is the size (log2) from which the two halves of a transform run concurrently.
	parallelLog = 15
)

// addMod returns a value congruent to a+b.
func addMod(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	// A carry out is 2^64 ≡ 2^32-1; adding that back overflows again only for inputs above p.
	s, carry = bits.Add64(s, epsilon&-carry, 0)
	if carry != 0 {
		s += epsilon
	}
	return s
}

// subMod returns a value congruent to a-b.
func subMod(a, b uint64) uint64 {
	d, borrow := bits.Sub64(a, b, 0)
	d, borrow = bits.Sub64(d, epsilon&-borrow, 0)
	if borrow != 0 {
		d -= epsilon
	}
	return d
}

// mulMod returns a value congruent to a*b.
func mulMod(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	// a*b = hh*2^96 + hl*2^64 + lo ≡ lo - hh + hl*(2^32-1)  (mod p)
	hh, hl := hi>>32, hi&epsilon
	t, borrow := bits.Sub64(lo, hh, 0)
	t -= epsilon & -borrow // cannot wrap: t >= 2^64-2^32 after a borrow
	r, carry := bits.Add64(t, hl*epsilon, 0)
	return r + epsilon&-carry // cannot wrap: r < 2^64-2^33 after a carry
}

// canonical returns the representative of x in [0, p).
func canonical(x uint64) uint64 {
	if x >= modulus {
		return x - modulus
	}
	return x
}

func powMod(a, e uint64) uint64 {
	r := uint64(1)
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = mulMod(r, a)
		}
		a = mulMod(a, a)
	}
	return r
}

// rootOfUnity returns a primitive 2^k-th root of unity modulo p (k <= 32).
func rootOfUnity(k int, inverse bool) uint64 {
	w := powMod(generator, (modulus-1)>>k)
	if inverse {
		w = powMod(w, modulus-2)
	}
	return w
}

// powers returns w^0, w^1, ..., w^(n-1).
func powers(w uint64, n int) []uint64 {
	t := make([]uint64, n)
	x := uint64(1)
	for i := range t {
		t[i] = x
		x = mulMod(x, w)
	}
	return t
}

// Twiddle factors. Level k of a transform (butterflies between elements h = 2^(k-1) apart)
// uses the powers w^j, j < h, of a primitive 2^k-th root of unity w. Each level up to tableLog
// has its own table, contiguous so that the butterflies read it in order (1 MB in all, built
// on first use), with one more entry, w^h = -1. The inverse transform needs the powers of 1/w,
// which are the same table read backwards: w^-j = w^(2h-j) = -w^(h-j).
//
// A level k above tableLog combines a coarse table, that of level k-log2(s), with the s fine
// powers of its own root (s = max(8, 2^(k-tableLog))): w^j = coarse[j/s] * fine[j%s].

var levelTables = func() (t [tableLog + 1]func() []uint64) {
	for k := 1; k <= tableLog; k++ {
		t[k] = sync.OnceValue(func() []uint64 {
			tab := powers(rootOfUnity(k, false), 1<<(k-1)+1)
			for j := range tab {
				tab[j] = canonical(tab[j])
			}
			return tab
		})
	}
	return t
}()

// levelTable returns the twiddle table of level k <= tableLog, built on first use.
func levelTable(k int) []uint64 { return levelTables[k]() }

// twiddles returns the twiddle factors of level k: the table w^j (j <= h) for k <= tableLog,
// otherwise the coarse table, log2(s), and the fine powers of w (or of 1/w when inverse).
func twiddles(k int, inverse bool) (tab []uint64, logS int, fine []uint64) {
	if k <= tableLog {
		return levelTable(k), 0, nil
	}
	logS = max(3, k-tableLog)
	return levelTable(k - logS), logS, powers(rootOfUnity(k, inverse), 1<<logS)
}

// forward transforms a (length 2^k or 3*2^k) in place, from natural to bit-reversed order.
func (t *task) forward(a []uint64) {
	n := len(a)
	if n&(n-1) != 0 {
		t.forward3(a)
		return
	}
	if n <= 1<<leafLog {
		forwardLeaf(a)
		t.advance(transformWork(n))
		return
	}
	if t.stopped() {
		return
	}
	half := n / 2
	tab, logS, fine := twiddles(bits.Len(uint(n))-1, false)
	x, y := a[:half], a[half:]
	t.parallel(n, func(lo, hi int) {
		if fine == nil {
			difKernel(x[lo:hi], y[lo:hi], tab[lo:hi])
		} else {
			difFineKernel(x, y, tab, fine, logS, lo, hi)
		}
	}, half)
	t.advance(int64(half))
	t.all(n, func() { t.forward(x) }, func() { t.forward(y) })
}

// inverse undoes forward, except for the factor len(a), in place.
func (t *task) inverse(a []uint64) {
	n := len(a)
	if n&(n-1) != 0 {
		t.inverse3(a)
		return
	}
	if n <= 1<<leafLog {
		inverseLeaf(a)
		t.advance(transformWork(n))
		return
	}
	if t.stopped() {
		return
	}
	half := n / 2
	x, y := a[:half], a[half:]
	t.all(n, func() { t.inverse(x) }, func() { t.inverse(y) })
	tab, logS, fine := twiddles(bits.Len(uint(n))-1, true)
	t.parallel(n, func(lo, hi int) {
		if fine == nil {
			ditKernel(x[lo:hi], y[lo:hi], tab[half-hi+1:half-lo+1])
		} else {
			ditFineKernel(x, y, tab, fine, logS, lo, hi)
		}
	}, half)
	t.advance(int64(half))
}

// forwardLeaf is forward for small a, level by level; the last three levels go together.
func forwardLeaf(a []uint64) {
	n := len(a)
	m := n
	for ; m >= 16; m >>= 1 {
		h := m / 2
		tab := levelTable(bits.Len(uint(m)) - 1)[:h]
		for s := 0; s < n; s += m {
			difKernel(a[s:s+h], a[s+h:s+m], tab)
		}
	}
	leafTail(a, m)
}

// inverseLeaf is inverse for small a, level by level; the first three levels go together.
func inverseLeaf(a []uint64) {
	n := len(a)
	m := min(n, 8)
	leafHead(a, m)
	for m <<= 1; m <= n; m <<= 1 {
		h := m / 2
		tab := levelTable(bits.Len(uint(m)) - 1)
		for s := 0; s < n; s += m {
			ditKernel(a[s:s+h], a[s+h:s+m], tab[1:h+1])
		}
	}
}

// transformWork is the number of butterflies in a transform of length n, the unit of progress;
// a radix-3 step counts as two butterflies per element of a third.
func transformWork(n int) int64 {
	if n&(n-1) != 0 {
		m := n / 3
		return 3*transformWork(m) + int64(2*m)
	}
	return int64(n/2) * int64(bits.Len(uint(n))-1)
}

// The radix-3 step. For n = 3m, with w a primitive n-th root of unity and ω = w^m a cube root,
// output block i (of length m) is the transform, with root w^3, of
//
//	w^(ij) * (x0[j] + ω^i x1[j] + ω^(2i) x2[j]),   j < m,
//
// where x0, x1, x2 are the three thirds of the input. Since ω^2 = -1-ω, the three sums are
// x0+x1+x2, (x0-x2)+u and (x0-x1)-u with u = ω(x1-x2).

// chunk3 is the length of the runs of the radix-3 step whose twiddle factors start from one
// power computed afresh.
const chunk3 = 1024

// forward3 is forward for a length 3*2^k.
func (t *task) forward3(a []uint64) {
	n := len(a)
	m := n / 3
	if t.stopped() {
		return
	}
	w := rootOf3(n, false)
	omega := powMod(w, uint64(m))
	fine := powers(w, min(chunk3, m))
	x0, x1, x2 := a[:m], a[m:2*m], a[2*m:]
	t.parallel(n, func(lo, hi int) {
		for j0 := lo; j0 < hi; j0 += chunk3 {
			j1 := min(j0+chunk3, hi)
			fwd3Kernel(x0[j0:j1], x1[j0:j1], x2[j0:j1], fine, powMod(w, uint64(j0)), omega)
		}
	}, m)
	t.advance(int64(2 * m))
	t.all(n, func() { t.forward(x0) }, func() { t.forward(x1) }, func() { t.forward(x2) })
}

// inverse3 is inverse for a length 3*2^k.
func (t *task) inverse3(a []uint64) {
	n := len(a)
	m := n / 3
	x0, x1, x2 := a[:m], a[m:2*m], a[2*m:]
	t.all(n, func() { t.inverse(x0) }, func() { t.inverse(x1) }, func() { t.inverse(x2) })
	if t.stopped() {
		return
	}
	w := rootOf3(n, true)
	omega := powMod(w, uint64(m))
	fine := powers(w, min(chunk3, m))
	t.parallel(n, func(lo, hi int) {
		for j0 := lo; j0 < hi; j0 += chunk3 {
			j1 := min(j0+chunk3, hi)
			inv3Kernel(x0[j0:j1], x1[j0:j1], x2[j0:j1], fine, powMod(w, uint64(j0)), omega)
		}
	}, m)
	t.advance(int64(2 * m))
}

// rootOf3 returns a primitive n-th root of unity for n = 3*2^k, whose cube is the root that
// rootOfUnity gives for 2^k.
func rootOf3(n int, inverse bool) uint64 {
	w := powMod(generator, (modulus-1)/uint64(n))
	if inverse {
		w = powMod(w, modulus-2)
	}
	return w
}
