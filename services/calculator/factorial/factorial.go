package factorial

import (
	"math"
	"sync"
	"sync/atomic"
)

// factorial returns n! = m * 10^zeros for 2 <= n <= MaxN. m's limbs live in memory that
// release hands back (release is never nil).
//
// It multiplies primes, not the numbers 1..n. The factors 2 and 5 of the trailing zeros are
// left out (as many 2s as there are 5s). With the other primes grouped by the bits of their
// exponents (see exponentGroups),
//
//	m = (...((g_K)^2 * g_(K-1))^2 * ...)^2 * g_0,   g_k = product of group k,
//
// so most of the work is a chain of squarings, each about twice the size of the one before
// (chain.go), and the g_k are balanced product trees computed concurrently beforehand.
func (t *task) factorial(n uint64) (m nat, zeros int64, release func(), err error) {
	defer t.buffers.release()
	groups, zeros := exponentGroups(n)
	t.setTotal(estimate(groups))
	if err := t.err(); err != nil {
		return nil, 0, func() {}, err
	}

	// As many products at a time as there are workers, from the largest group (0) up, so that
	// the cores stay busy without more partial products alive than needed.
	parts := make([]nat, len(groups))
	var next atomic.Int64
	work := func() {
		for k := int(next.Add(1) - 1); k < len(groups); k = int(next.Add(1) - 1) {
			parts[k] = t.product(groups[k])
		}
	}
	var wg sync.WaitGroup
	for range t.workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	groups = nil
	t.buffers.release() // the trees' transform buffers are not needed by the chain
	if err := t.err(); err != nil {
		return nil, 0, func() {}, err
	}
	m, release, err = t.chain(parts)
	return m, zeros, release, err
}

// product returns the product of the primes ps (1 if there are none).
func (t *task) product(ps []uint32) nat {
	// Pack the primes into words below 10^18 (limbs of the small engine), then multiply the
	// words as a balanced tree.
	var words []uint64
	w := uint64(1)
	for _, p := range ps {
		if w >= dBase/uint64(p) { // w*p might reach 10^18
			words = append(words, w)
			w = 1
		}
		w *= uint64(p)
	}
	words = append(words, w)
	return t.productOfWords(words)
}

// treeSmallWords is the number of words up to which productOfWords leaves a product tree to
// the small engine (small.go), whose long multiplication and Karatsuba's method beat the
// transforms until the halves reach a few hundred limbs of 10^18. Measured with
// BenchmarkTreeThreshold, which times the product trees of n = 10^6 for each threshold.
var treeSmallWords = 512

// productOfWords returns the product of ws (each below 10^18).
func (t *task) productOfWords(ws []uint64) nat {
	if t.stopped() {
		return nil
	}
	if len(ws) <= treeSmallWords {
		w := smallPool.Get().(*smallWork)
		defer smallPool.Put(w)
		limbs := dproductLimbs(len(ws))
		buf := w.words(limbs + dproductScratch(len(ws)))
		z := natFromDnat(dproduct(dnat(buf[:limbs]), ws, buf[limbs:]))
		t.advance(int64(len(z)))
		return z
	}
	h := len(ws) / 2
	var x, y nat
	// A word is about 7 limbs; run the halves concurrently when they are worth a goroutine.
	t.all(h*8, func() { x = t.productOfWords(ws[:h]) }, func() { y = t.productOfWords(ws[h:]) })
	return t.mul(x, y)
}

// natFromDnat returns x (base 10^18) in base 10^6.
func natFromDnat(x dnat) nat {
	z := make(nat, 3*len(x))
	for i, d := range x {
		z[3*i] = uint32(d % limbBase)
		z[3*i+1] = uint32(d / limbBase % limbBase)
		z[3*i+2] = uint32(d / (limbBase * limbBase))
	}
	return z.norm()
}

// estimate estimates the work, in butterflies, of computing and writing the factorial whose
// exponent groups are groups.
func estimate(groups [][]uint32) (work int64) {
	logs := make([]float64, len(groups))
	for k, g := range groups {
		for _, p := range g {
			logs[k] += math.Log10(float64(p))
		}
		// The product tree: each level costs about as much as the top product.
		l := limbsFor(logs[k])
		for m := l; m > treeSmallWords*10; m /= 2 {
			work += int64(l/m) * mulCost(m/2, m/2)
		}
	}
	p := planChain(logs)
	last := p.steps[len(p.steps)-1]
	return work + p.cost + int64(last.lout) // writing costs about one unit per limb
}
