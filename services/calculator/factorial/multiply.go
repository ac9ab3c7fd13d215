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

// strategy says how mul multiplies operands of given lengths.
type strategy int

const (
	long   strategy = iota // long multiplication
	split                  // cut the shorter operand in two (it is longer than maxConv)
	plain                  // one convolution of length n
	pieces                 // convolutions of length n, piece by piece (see mulPieces)
)

// choose returns how to multiply operands of lx >= ly limbs, the transform length, and the
// estimated work in butterflies.
func choose(lx, ly int) (s strategy, n int, cost int64) {
	switch {
	case ly <= schoolMax:
		return long, 0, int64(lx) * int64(ly) / 4
	case ly > maxConv:
		_, _, c1 := choose(lx, ly/2)
		_, _, c2 := choose(lx, ly-ly/2)
		return split, 0, c1 + c2
	}
	n = transformSize(lx + ly)
	cost = 3 * transformWork(n)
	if pn, pc := bestPiece(lx, ly); pc < cost {
		return pieces, pn, pc
	}
	return plain, n, cost
}

// mulCost estimates the work of mul for operands of lx and ly limbs, in butterflies.
func mulCost(lx, ly int) int64 {
	_, _, c := choose(max(lx, ly), min(lx, ly))
	return c
}

// sqrCost estimates the work of sqr for an operand of l limbs, in butterflies.
func sqrCost(l int) int64 {
	if l <= schoolMax || l > maxConv {
		return mulCost(l, l)
	}
	return 2 * transformWork(transformSize(2*l))
}

// scratchSize returns the scratch length that mul (sqr when square) uses for operands of lx
// and ly limbs, so that a chain of products can share one buffer.
func scratchSize(lx, ly int, square bool) int {
	s, n, _ := choose(max(lx, ly), min(lx, ly))
	switch {
	case square && lx <= maxConv && lx > schoolMax:
		return transformSize(2 * lx)
	case s == plain || s == pieces:
		return 2 * n
	}
	return 0
}

// scratch is a transform buffer reused across products. A nil *scratch, or one too small,
// makes products allocate their own.
type scratch struct{ buf []uint64 }

// get returns n zeroed words: two calls return the same storage.
func (s *scratch) get(n int) []uint64 {
	if s == nil || len(s.buf) < n {
		return make([]uint64, n)
	}
	b := s.buf[:n]
	clear(b)
	return b
}

// mul returns x*y, using sc for transforms. Its storage is new.
func (t *task) mul(x, y nat, sc *scratch) nat {
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
	case split:
		return t.mulSplit(x, y)
	case pieces:
		return t.mulPieces(x, y, n, sc, make(nat, len(x)+len(y)))
	}
	return t.mulPlain(x, y, n, sc)
}

// sqr returns x*x, using sc for transforms. Its storage is new, with room for room more limbs.
func (t *task) sqr(x nat, sc *scratch, room int) nat {
	if len(x) <= schoolMax || len(x) > maxConv {
		return t.mul(x, x, sc)
	}
	n := transformSize(2 * len(x))
	a := sc.get(n)
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
	return carryOut(a[:2*len(x)], make(nat, 2*len(x), 2*len(x)+room))
}

// mulPlain returns x*y with one convolution of length n >= len(x)+len(y).
func (t *task) mulPlain(x, y nat, n int, sc *scratch) nat {
	buf := sc.get(2 * n)
	a, b := buf[:n], buf[n:]
	load(a, x, 1)
	load(b, y, inverseOf(n))
	t.all(n, func() { t.forward(a) }, func() { t.forward(b) })
	pointwise(t, a, b)
	t.inverse(a)
	if t.stopped() {
		return nil
	}
	return carryOut(a[:len(x)+len(y)], make(nat, len(x)+len(y)))
}

// mulPieces returns x*y for len(x) much larger than len(y): y is transformed once at length n,
// and x is multiplied by it piece by piece. The product is built in z, of length
// len(x)+len(y), which is either zero or x itself extended: pieces go from the most
// significant down, so each piece of x is read before its limbs are overwritten.
func (t *task) mulPieces(x, y nat, n int, sc *scratch, z nat) nat {
	buf := sc.get(2 * n)
	a, b := buf[:n], buf[n:]
	load(b, y, inverseOf(n))
	t.forward(b)
	part := make(nat, n+1)
	step := n - len(y) + 1
	clear(z[len(x):])
	for off := (len(x) - 1) / step * step; off >= 0; off -= step {
		end := min(off+step, len(x))
		clear(a)
		load(a, x[off:end], 1)
		clear(z[off:end]) // the piece's own limbs, when z is x
		t.forward(a)
		pointwise(t, a, b)
		t.inverse(a)
		if t.stopped() {
			return nil // a and the result are meaningless now
		}
		m := end - off + len(y)
		addAt(z, carryOut(a[:m-1], part[:m]), off)
	}
	return z.norm()
}

// mulInPlace returns x*y like mul, but may build the product in x's storage, which the caller
// gives up; see sqr's room.
func (t *task) mulInPlace(x, y nat, sc *scratch) nat {
	if len(x) >= len(y) && cap(x) >= len(x)+len(y) {
		if s, n, _ := choose(len(x), len(y)); s == pieces {
			return t.mulPieces(x, y, n, sc, x[:len(x)+len(y)])
		}
	}
	return t.mul(x, y, sc)
}

// mulSplit returns x*y for len(y) > maxConv by cutting y in two.
func (t *task) mulSplit(x, y nat) nat {
	h := len(y) / 2
	z := make(nat, len(x)+len(y))
	addAt(z, t.mul(x, y[:h].norm(), nil), 0)
	addAt(z, t.mul(x, y[h:], nil), h)
	return z.norm()
}

// bestPiece returns the transform length that makes mulPieces cheapest for operands of lengths
// lx >= ly, and that cost in butterflies.
func bestPiece(lx, ly int) (n int, cost int64) {
	cost = -1
	for m := transformSize(2 * ly); m < lx+ly; m = transformSize(m + 1) {
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

// pointwise sets a[i] = a[i]*b[i].
func pointwise(t *task, a, b []uint64) {
	t.parallel(len(a), func(lo, hi int) {
		a, b := a[lo:hi], b[lo:hi]
		for i := range a {
			a[i] = mulMod(a[i], b[i])
		}
	}, len(a))
}
