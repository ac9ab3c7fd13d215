package factorial

import "math/bits"

// Multiplication of nats on the heap, for the product trees: long multiplication for short
// operands, otherwise convolution by number-theoretic transform (see ntt.go), cutting a much
// longer operand into pieces. The chain of squarings works in an arena instead (chain.go).

const (
	// schoolMax is the longest shorter operand that is multiplied by long multiplication.
	schoolMax = 48

	// maxConv bounds the shorter operand of a convolution: every coefficient is then at most
	// maxConv * (10^6-1)^2 < 1.8e19, which, with the carry it meets, stays below p and 2^64.
	maxConv = 18_000_000
)

// strategy says how mul multiplies operands of given lengths.
type strategy int

const (
	long   strategy = iota // long multiplication
	plain                  // one convolution of length n
	pieces                 // convolutions of length n, piece by piece (see mulPieces)
)

// choose returns how to multiply operands of lx >= ly limbs (ly <= maxConv), the transform
// length, and the estimated work in butterflies.
func choose(lx, ly int) (s strategy, n int, cost int64) {
	if ly <= schoolMax {
		return long, 0, int64(lx) * int64(ly) / 4
	}
	n = transformSize(lx + ly)
	cost = 3 * transformWork(n)
	if pn, pc := bestPiece(lx, ly, 0); pn < n && pc < cost {
		return pieces, pn, pc
	}
	return plain, n, cost
}

// mulCost estimates the work of mul for operands of lx and ly limbs, in butterflies.
func mulCost(lx, ly int) int64 {
	_, _, c := choose(max(lx, ly), min(lx, ly))
	return c
}

// mul returns x*y in new storage. The shorter operand has at most maxConv limbs.
func (t *task) mul(x, y nat) nat {
	if len(x) < len(y) {
		x, y = y, x
	}
	if len(y) == 0 {
		return nil
	}
	s, n, cost := choose(len(x), len(y))
	switch s {
	case long:
		t.advance(cost)
		return mulSchool(x, y)
	case pieces:
		buf := t.buffers.get(2 * n)
		defer t.buffers.put(buf)
		return t.mulPieces(x, y, buf[:n], buf[n:], make(nat, len(x)+len(y)))
	}
	return t.mulPlain(x, y, n)
}

// mulPlain returns x*y with one convolution of length n >= len(x)+len(y).
func (t *task) mulPlain(x, y nat, n int) nat {
	buf := t.buffers.get(2 * n)
	defer t.buffers.put(buf)
	clear(buf)
	a, b := buf[:n], buf[n:]
	load(a, x, 1)
	load(b, y, inverseOf(n))
	t.all(n, func() { t.forward(a) }, func() { t.forward(b) })
	pointwise(t, a, b, a, 1)
	t.inverse(a)
	if t.stopped() {
		return nil
	}
	return carryOut(a[:len(x)+len(y)], make(nat, len(x)+len(y)))
}

// mulPieces returns x*y for len(x) >= len(y): y is transformed once in b, and x is multiplied
// by it piece by piece in a (a and b have the same length n >= 2*len(y)). The product is built
// in z, of length len(x)+len(y), which is either zero or x itself extended: pieces go from the
// most significant down, so each piece of x is read before its limbs are overwritten.
func (t *task) mulPieces(x, y nat, a, b []uint64, z nat) nat {
	n := len(a)
	clear(b)
	load(b, y, inverseOf(n))
	t.forward(b)
	part := limbsOf(a) // each piece's product is carried out in place
	step := n - len(y) + 1
	clear(z[len(x):])
	for off := (len(x) - 1) / step * step; off >= 0; off -= step {
		end := min(off+step, len(x))
		clear(a)
		load(a, x[off:end], 1)
		clear(z[off:end]) // the piece's own limbs, when z is x
		t.forward(a)
		pointwise(t, a, b, a, 1)
		t.inverse(a)
		if t.stopped() {
			return nil // a and the result are meaningless now
		}
		m := end - off + len(y)
		addAt(z, carryOut(a[:m-1], part[:m]), off)
	}
	return z.norm()
}

// bestPiece returns the transform length that makes mulPieces cheapest for operands of lengths
// lx >= ly, at most maxN words when maxN > 0, and that cost in butterflies; n = 0 when no
// length fits.
func bestPiece(lx, ly, maxN int) (n int, cost int64) {
	cost = -1
	for m := transformSize(2 * ly); (maxN <= 0 || m <= maxN) && m < 2*(lx+ly); m = transformSize(m + 1) {
		step := m - ly + 1
		pieces := int64((lx + step - 1) / step)
		c := (1 + 2*pieces) * transformWork(m)
		if cost < 0 || c < cost {
			n, cost = m, c
		}
		if step >= lx {
			break // one piece: longer transforms only cost more
		}
	}
	if cost < 0 {
		return 0, 1 << 62
	}
	return n, cost
}

// transformSize returns the transform length for a product of m limbs: the least 2^k or
// 3*2^k (from 3*2^leafLog on) that is at least m.
func transformSize(m int) int {
	n := 1 << bits.Len(uint(m-1))
	if t := n / 4 * 3; t >= m && t >= 3<<leafLog {
		return t
	}
	return n
}

// inverseOf returns 1/n modulo p.
func inverseOf(n int) uint64 {
	return powMod(uint64(n), modulus-2)
}

// load stores the limbs of x, times scale, at the start of a; the rest of a must be zero.
func load(a []uint64, x nat, scale uint64) {
	if scale == 1 {
		for i, d := range x {
			a[i] = uint64(d)
		}
		return
	}
	for i, d := range x {
		a[i] = mulMod(uint64(d), scale)
	}
}

// pointwise sets dst[i] = a[i]*b[i]*scale.
func pointwise(t *task, dst, a, b []uint64, scale uint64) {
	t.parallel(len(a), func(lo, hi int) { mulKernel(dst[lo:hi], a[lo:hi], b[lo:hi], scale) }, len(a))
}
