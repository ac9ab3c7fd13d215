package factorial

import "math/bits"

// Multiplication of nats: long multiplication for short operands, otherwise convolution by
// number-theoretic transform (see ntt.go), cutting a much longer operand into pieces.

const (
	// schoolMax is the longest shorter operand that is multiplied by long multiplication.
	schoolMax = 48

	// maxConv bounds the shorter operand of a convolution: every coefficient is then at most
	// maxConv * (10^6-1)^2 < 1.8e19, which, with the carry it meets, stays below p and 2^64.
	maxConv = 18_000_000
)

// mul returns x*y. Its storage is new.
func (t *task) mul(x, y nat) nat {
	if len(x) < len(y) {
		x, y = y, x
	}
	switch {
	case len(y) == 0:
		return nil
	case len(y) <= schoolMax:
		t.advance(int64(len(x)) * int64(len(y)) / 4)
		return mulSchool(x, y)
	case len(y) > maxConv:
		return t.mulSplit(x, y)
	}
	plain := transformSize(len(x) + len(y))
	piece, pieceCost := bestPiece(len(x), len(y))
	if pieceCost < 3*transformWork(plain) {
		return t.mulPieces(x, y, piece)
	}
	return t.mulPlain(x, y, plain)
}

// sqr returns x*x. Its storage is new.
func (t *task) sqr(x nat) nat {
	if len(x) <= schoolMax || len(x) > maxConv {
		return t.mul(x, x)
	}
	n := transformSize(2 * len(x))
	a := make([]uint64, n)
	load(a, x, 1)
	t.forward(a)
	scale := inverseOf(n)
	t.parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			a[i] = mulMod(mulMod(a[i], a[i]), scale)
		}
	}, n)
	t.inverse(a)
	if t.stopped() {
		return nil
	}
	return carryOut(a[:2*len(x)], make(nat, 2*len(x)))
}

// mulPlain returns x*y with one convolution of length n >= len(x)+len(y).
func (t *task) mulPlain(x, y nat, n int) nat {
	a, b := make([]uint64, n), make([]uint64, n)
	load(a, x, 1)
	load(b, y, inverseOf(n))
	t.both(n, func() { t.forward(a) }, func() { t.forward(b) })
	pointwise(t, a, b)
	t.inverse(a)
	if t.stopped() {
		return nil
	}
	return carryOut(a[:len(x)+len(y)], make(nat, len(x)+len(y)))
}

// mulPieces returns x*y for len(x) much larger than len(y): y is transformed once at length n,
// and x is multiplied by it piece by piece.
func (t *task) mulPieces(x, y nat, n int) nat {
	b := make([]uint64, n)
	load(b, y, inverseOf(n))
	t.forward(b)
	z := make(nat, len(x)+len(y))
	a := make([]uint64, n)
	part := make(nat, n+1)
	step := n - len(y) + 1
	for off := 0; off < len(x) && !t.stopped(); off += step {
		piece := x[off:min(off+step, len(x))]
		clear(a)
		load(a, piece, 1)
		t.forward(a)
		pointwise(t, a, b)
		t.inverse(a)
		m := len(piece) + len(y)
		addAt(z, carryOut(a[:m-1], part[:m]), off)
	}
	return z.norm()
}

// mulSplit returns x*y for len(y) > maxConv by cutting y in two.
func (t *task) mulSplit(x, y nat) nat {
	h := len(y) / 2
	z := make(nat, len(x)+len(y))
	addAt(z, t.mul(x, y[:h].norm()), 0)
	addAt(z, t.mul(x, y[h:]), h)
	return z.norm()
}

// bestPiece returns the transform length that makes mulPieces cheapest for operands of lengths
// lx >= ly, and that cost in butterflies.
func bestPiece(lx, ly int) (n int, cost int64) {
	cost = -1
	for m := transformSize(2 * ly); m < lx+ly; m *= 2 {
		step := m - ly + 1
		pieces := int64((lx + step - 1) / step)
		c := (1 + 2*pieces) * transformWork(m)
		if cost < 0 || c < cost {
			n, cost = m, c
		}
	}
	if cost < 0 {
		cost = 1 << 62
	}
	return n, cost
}

// transformSize returns the transform length for a product of m limbs.
func transformSize(m int) int {
	return 1 << bits.Len(uint(m-1))
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

// pointwise sets a[i] = a[i]*b[i].
func pointwise(t *task, a, b []uint64) {
	t.parallel(len(a), func(lo, hi int) {
		a, b := a[lo:hi], b[lo:hi]
		for i := range a {
			a[i] = mulMod(a[i], b[i])
		}
	}, len(a))
}

// mulCost estimates the work of mul for operands of lx and ly limbs, in butterflies.
func mulCost(lx, ly int) int64 {
	if lx < ly {
		lx, ly = ly, lx
	}
	switch {
	case ly == 0:
		return 0
	case ly <= schoolMax:
		return int64(lx) * int64(ly) / 4
	case ly > maxConv:
		return mulCost(lx, ly/2) + mulCost(lx, ly-ly/2)
	}
	_, pieces := bestPiece(lx, ly)
	return min(3*transformWork(transformSize(lx+ly)), pieces)
}

// sqrCost estimates the work of sqr for an operand of l limbs, in butterflies.
func sqrCost(l int) int64 {
	if l <= schoolMax || l > maxConv {
		return mulCost(l, l)
	}
	return 2 * transformWork(transformSize(2*l))
}
