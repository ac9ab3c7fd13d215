package factorial

import (
	"math"
	"runtime/debug"
)

// The chain of squarings, n! = (...((g_K)^2 * g_(K-1))^2 * ...)^2 * g_0, is where the memory
// goes: its last square is about as long as n! itself. It runs in one arena, a buffer of words
// sized beforehand for the largest step (planChain), in which the number lives as limbs at the
// start and is transformed in place as words (see expand, carryOut): no large step allocates
// (only the first few, short ones multiply on the heap), and nothing large is left behind for
// the garbage collector.
//
// A square whose operand is longer than maxConv, or whose single transform would need more
// memory than the budget, is computed in blocks (squareBlocks). The budget is arenaBudget words
// per limb of the step's result: with 6 digits per limb and 8 bytes per word, the arena then
// stays under 8*arenaBudget/6 = 2.33 bytes per digit of the result, which leaves room under
// three bytes per digit for the sieve, the group products and the Go runtime.

// freeBefore is the arena size, in bytes, from which the heap's garbage (the product trees')
// is handed back to the operating system before the arena is touched, at the cost of a
// garbage collection: for large n, so that it does not add to the peak; for small n a
// collection per computation would cost more than the memory is worth.
const freeBefore = 4 << 20

// arenaBudget is the largest arena, in words per limb of a step's result, that a step may use
// when a cheaper plan needs more.
const arenaBudget = 1.75

// stepPlan is how one step of the chain is computed, planned from upper bounds of the lengths.
type stepPlan struct {
	square  squarePlan // zero when r is still 1 before this step
	lsq     int        // bound of the limbs of the square
	lg      int        // limbs of g_k
	lout    int        // bound of the limbs of the step's result
	piece   int        // transform length for the multiplication by g_k in pieces; 0: on the heap
	outWord int        // words of the result's limbs (the start of the arena they occupy)
}

// squarePlan is how a square of l limbs is computed: in blocks of h limbs, each transformed at
// length n. One block is the whole square, in place, possibly with a transform shorter than
// the square and a side transform of length side for the coefficients that wrap around (see
// square).
type squarePlan struct{ l, blocks, h, n, side int }

// chainPlan is the plan of the whole chain.
type chainPlan struct {
	steps []stepPlan // for k = K down to 0
	words int        // arena size
	cost  int64      // estimated work in butterflies
}

// limbsFor returns a bound of the limbs of a number of d decimal digits (d = log10 of it).
func limbsFor(d float64) int {
	return int((d+1e-9*d+1e-6)/limbDigits) + 1
}

// log10Of returns an upper bound, within 1e-9 relative, of log10(x) for x >= 1.
func log10Of(x nat) float64 {
	top := float64(x[len(x)-1])
	if len(x) > 1 {
		top += float64(x[len(x)-2]+1) / limbBase
	}
	return math.Log10(top) + float64(limbDigits*(len(x)-1))
}

// planChain plans the chain for group products of logs[k] = log10(g_k) digits.
func planChain(logs []float64) chainPlan {
	var p chainPlan
	d := 0.0 // log10 of r
	for k := len(logs) - 1; k >= 0; k-- {
		var s stepPlan
		lg := limbsFor(logs[k])
		if d > 0 {
			l := limbsFor(d)
			s.lout = limbsFor(2*d + logs[k])
			s.lsq = limbsFor(2 * d)
			var w int
			var c int64
			s.square, w, c = planSquare(l, s.lout)
			p.words, p.cost = max(p.words, w), p.cost+c
			d *= 2
		} else {
			s.lout = lg
		}
		s.lg = lg
		s.outWord = s.lout/2 + 1
		d += logs[k]
		p.words = max(p.words, s.outWord)
		p.steps = append(p.steps, s)
	}
	// The multiplications by g_k take their transforms from what the squares leave free.
	for i := range p.steps {
		s := &p.steps[i]
		if s.square.l == 0 {
			continue
		}
		lsq := s.lsq
		if min(lsq, s.lg) <= schoolMax || lsq < s.lg {
			p.cost += mulCost(lsq, s.lg)
			continue
		}
		free := p.words - s.outWord
		if need := 2 * transformSize(2*s.lg); free < need {
			p.words, free = s.outWord+need, need
		}
		n, c := bestPiece(lsq, s.lg, free/2)
		s.piece, p.cost = n, p.cost+c
	}
	return p
}

// planSquare returns how to square l limbs in a step whose result has lout limbs, the arena
// words it needs and its cost: in one transform when the operand allows it and the arena stays
// within the budget; otherwise in the cheapest number of blocks within the budget, or in the
// one that needs the least memory if none is.
func planSquare(l, lout int) (sp squarePlan, words int, cost int64) {
	outWords := lout/2 + 1
	if l <= schoolMax {
		return squarePlan{l: l, blocks: 1}, outWords, mulCost(l, l)
	}
	budget := int(arenaBudget * float64(lout))
	if l <= maxConv {
		sp, words, cost = planOneTransform(l)
		if words = max(words, outWords); words <= budget {
			return sp, words, cost
		}
	}
	var small squarePlan
	smallWords := math.MaxInt
	cost = 0
	for m := 2; m <= 16; m++ {
		h := (l + m - 1) / m
		if h > maxConv {
			continue
		}
		n := transformSize(2 * h)
		w, c := outWords+(m+1)*n, int64(m+m*(m+1)/2)*transformWork(n)
		cand := squarePlan{l: l, blocks: m, h: h, n: n}
		if w < smallWords {
			small, smallWords = cand, w
		}
		if w <= budget && (cost == 0 || c < cost) {
			sp, words, cost = cand, w, c
		}
	}
	if cost == 0 {
		m := int64(small.blocks)
		return small, smallWords, (m + m*(m+1)/2) * transformWork(small.n)
	}
	return sp, words, cost
}

// planOneTransform returns how to square l limbs (schoolMax < l <= maxConv) in one transform,
// the words it needs and its cost. Transform lengths come in steps of 1.5 and 1.33, so the
// least length that holds the square can exceed it by half. A shorter one, of length n >= l,
// wraps the top w = 2l-1-n coefficients around onto the bottom ones; a side transform of
// length side >= 2w-1 computes them apart so that they can be taken off: it runs in the part
// of the main transform's words that the operand does not occupy yet when it fits there, and
// its w coefficients are kept after the main transform. Of the lengths that cost at most a
// quarter more than the cheapest, the one that needs the least memory is chosen.
func planOneTransform(l int) (sp squarePlan, words int, cost int64) {
	full := transformSize(2*l - 1)
	sp, words, cost = squarePlan{l: l, blocks: 1, h: l, n: full}, full, 2*transformWork(full)
	limit := cost + cost/4
	for n := transformSize(l); n < 2*l-1; n = transformSize(n + 1) {
		w := 2*l - 1 - n
		side := transformSize(2*w - 1)
		need := n + w
		if side > n-(l/2+1) {
			need = n + side
		}
		c := 2*transformWork(n) + 2*transformWork(side)
		if need < words && c <= limit {
			sp, words, cost = squarePlan{l: l, blocks: 1, h: l, n: n, side: side}, need, c
		}
	}
	return sp, words, cost
}

// chain returns the product of the chain for the group products parts. The result lives in an
// arena that release hands back; release is never nil.
func (t *task) chain(parts []nat) (r nat, release func(), err error) {
	logs := make([]float64, len(parts))
	for k, g := range parts {
		logs[k] = log10Of(g)
	}
	p := planChain(logs)
	if p.words*8 >= freeBefore {
		debug.FreeOSMemory()
	}
	mem, release := words(p.words)
	z := limbsOf(mem)
	lz := 0
	for i, s := range p.steps {
		g := parts[len(parts)-1-i]
		if lz == 0 {
			lz = copy(z, g)
			continue
		}
		lz = t.square(mem, lz, s)
		if err := t.err(); err != nil {
			release()
			return nil, func() {}, err
		}
		if !isOne(g) {
			lz = t.mulBy(mem, lz, g, s)
		}
		if err := t.err(); err != nil {
			release()
			return nil, func() {}, err
		}
		parts[len(parts)-1-i] = nil
	}
	return z[:lz], release, nil
}

// square replaces the number of lz limbs at the start of limbsOf(mem) by its square and
// returns its length.
func (t *task) square(mem []uint64, lz int, s stepPlan) int {
	z := limbsOf(mem)
	sp := s.square
	switch {
	case lz <= schoolMax:
		return copy(z, mulSchool(z[:lz], z[:lz]))
	case sp.blocks > 1:
		return t.squareBlocks(mem, lz, s)
	}
	n, coefs := sp.n, 2*lz-1
	var top []uint64 // the coefficients n, n+1, ..., coefs-1 of the square
	if w := coefs - n; w > 0 {
		// They are the top w coefficients of the square of the limbs from lz-w on (any two
		// limbs whose indices sum to n or more lie there), computed first, before expand
		// overwrites those limbs, in words that the limbs do not occupy, and kept after the
		// main transform's words.
		start := n
		if sp.side <= n-(lz/2+1) {
			start = lz/2 + 1
		}
		side := mem[start : start+sp.side]
		clear(side)
		load(side, z[lz-w:lz], 1)
		t.forward(side)
		pointwise(t, side, side, side, inverseOf(sp.side))
		t.inverse(side)
		top = mem[n : n+w]
		copy(top, side[w-1:2*w-1])
	}
	a := mem[:n]
	expand(a, lz)
	t.forward(a)
	pointwise(t, a, a, a, inverseOf(n))
	t.inverse(a)
	if t.stopped() {
		return 0
	}
	for k, c := range top { // coefficient k holds coefficients k and n+k
		a[k] = subMod(a[k], c)
	}
	out := limbsOf(a)[:2*lz]
	m := min(n, coefs)
	carry := carryInto(out, a[:m], 0)
	if len(top) > 0 {
		carry = carryInto(out[n:], top, carry) // limbs from n on lie in words already read
	}
	finish(out[m+len(top):], carry)
	return len(out.norm())
}

// squareBlocks is square for an operand cut into blocks x_i of h limbs, each transformed once:
// x^2 = sum_i x_i^2 B^(2ih) + 2 sum_(i<j) x_i x_j B^((i+j)h), each product an inverse
// transform added into the result. The arena holds the result's limbs, then the transforms of
// the blocks, then one more transform for the products of two different blocks.
func (t *task) squareBlocks(mem []uint64, lz int, s stepPlan) int {
	sp := s.square
	m, h, n := sp.blocks, sp.h, sp.n
	z := limbsOf(mem)
	tr := func(i int) []uint64 { return mem[s.outWord+i*n : s.outWord+(i+1)*n] }
	block := func(i int) nat { return z[min(i*h, lz):min((i+1)*h, lz)] }
	for i := range m {
		a := tr(i)
		clear(a)
		load(a, block(i), 1)
		t.forward(a)
		if t.stopped() {
			return 0
		}
	}
	lens := make([]int, m)
	for i := range m {
		lens[i] = len(block(i))
	}
	clear(z[:2*lz])
	scale := inverseOf(n)
	temp := tr(m)
	for i := range m {
		for j := i + 1; j < m; j++ {
			if lens[i] == 0 || lens[j] == 0 {
				continue
			}
			pointwise(t, temp, tr(i), tr(j), scale)
			t.inverse(temp)
			if t.stopped() {
				return 0
			}
			addCoefficients(z, temp[:lens[i]+lens[j]-1], (i+j)*h, 2)
		}
		if lens[i] == 0 {
			continue
		}
		a := tr(i)
		pointwise(t, a, a, a, scale)
		t.inverse(a)
		if t.stopped() {
			return 0
		}
		addCoefficients(z, a[:2*lens[i]-1], 2*i*h, 1)
	}
	return len(z[:2*lz].norm())
}

// addCoefficients adds mult times the value of the convolution coefficients c (each below p,
// possibly plus p; see canonical), at limb off, into z, which must be long enough for the sum.
func addCoefficients(z nat, c []uint64, off int, mult uint64) {
	var carry uint64 // below 3 + 2*2^64/10^6
	for k, v := range c {
		v = canonical(v)
		s := uint64(z[off+k]) + mult*(v%limbBase) + carry
		z[off+k] = uint32(s % limbBase)
		carry = s/limbBase + mult*(v/limbBase)
	}
	for i := off + len(c); carry > 0; i++ {
		s := uint64(z[i]) + carry
		z[i] = uint32(s % limbBase)
		carry = s / limbBase
	}
}

// mulBy replaces the number of lz limbs at the start of limbsOf(mem) by its product with g and
// returns its length.
func (t *task) mulBy(mem []uint64, lz int, g nat, s stepPlan) int {
	z := limbsOf(mem)
	if s.piece == 0 || lz < len(g) {
		return copy(z, t.mul(z[:lz], g))
	}
	n := s.piece
	a, b := mem[s.outWord:s.outWord+n], mem[s.outWord+n:s.outWord+2*n]
	return len(t.mulPieces(z[:lz], g, a, b, z[:lz+len(g)]))
}

func isOne(x nat) bool { return len(x) == 1 && x[0] == 1 }
