package factorial

import (
	"math"
	"sync"
)

// factorial returns n! for 2 <= n <= MaxN. It multiplies primes, not the numbers 1..n: with the
// primes grouped by the bits of their exponents (see exponentGroups),
//
//	n! = (...((g_K)^2 * g_(K-1))^2 * ...)^2 * g_0,   g_k = product of group k,
//
// so most of the work is a chain of squarings, each about twice the size of the one before, and
// the g_k are balanced product trees computed concurrently beforehand.
func (t *task) factorial(n uint64) (nat, error) {
	groups := exponentGroups(n)
	work, scratchLen := estimate(groups)
	t.setTotal(work)
	if err := t.err(); err != nil {
		return nil, err
	}

	parts := make([]nat, len(groups))
	if t.workers < 2 {
		for k, g := range groups {
			parts[k] = t.product(g)
		}
	} else {
		var wg sync.WaitGroup
		for k, g := range groups {
			wg.Go(func() { parts[k] = t.product(g) })
		}
		wg.Wait()
	}
	if err := t.err(); err != nil {
		return nil, err
	}

	// One transform buffer, sized for the last and largest steps, serves the whole chain, so
	// that memory is not left to the garbage collector at every doubling.
	sc := &scratch{buf: make([]uint64, scratchLen)}
	r := nat{1}
	for k := len(parts) - 1; k >= 0; k-- {
		if !isOne(r) {
			r = t.sqr(r, sc, len(parts[k]))
		}
		switch {
		case isOne(parts[k]):
		case isOne(r):
			r = parts[k]
		default:
			r = t.mulInPlace(r, parts[k], sc)
		}
		parts[k] = nil
		if err := t.err(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func isOne(x nat) bool { return len(x) == 1 && x[0] == 1 }

// leafWords is the number of words multiplied one by one at the leaves of a product tree.
const leafWords = 16

// product returns the product of the primes ps.
func (t *task) product(ps []uint32) nat {
	// Pack the primes into words below maxWord, then multiply the words as a balanced tree.
	var words []uint64
	w := uint64(1)
	for _, p := range ps {
		if w >= maxWord/uint64(p) { // w*p might reach maxWord
			words = append(words, w)
			w = 1
		}
		w *= uint64(p)
	}
	words = append(words, w)
	return t.productOfWords(words)
}

// productOfWords returns the product of ws (each below maxWord).
func (t *task) productOfWords(ws []uint64) nat {
	if t.stopped() {
		return nil
	}
	if len(ws) <= leafWords {
		z := natFromUint64(ws[0])
		for _, w := range ws[1:] {
			z = mulWord(z, w)
		}
		t.advance(int64(len(ws) * len(z) / 4))
		return z
	}
	h := len(ws) / 2
	var x, y nat
	// A word is about 7 limbs; run the halves concurrently when they are worth a goroutine.
	t.all(h*8, func() { x = t.productOfWords(ws[:h]) }, func() { y = t.productOfWords(ws[h:]) })
	return t.mul(x, y, nil)
}

// estimate estimates the work, in butterflies, of computing and writing the factorial whose
// exponent groups are groups, and the scratch length its chain of squarings needs.
func estimate(groups [][]uint32) (work int64, scratchLen int) {
	limbs := func(digits float64) int { return int(digits/limbDigits) + 1 }
	digits := make([]float64, len(groups))
	for k, g := range groups {
		for _, p := range g {
			digits[k] += math.Log10(float64(p))
		}
		// The product tree: each level costs about as much as the top product.
		l := limbs(digits[k])
		for m := l; m > 2*leafWords*8; m /= 2 {
			work += int64(l/m) * mulCost(m/2, m/2)
		}
	}
	// The chain of squarings; lengths are tracked in digits, since rounding to limbs at every
	// step would double with each squaring. A little slack keeps the scratch large enough.
	r := 0.0
	for k := len(groups) - 1; k >= 0; k-- {
		if r > 0 {
			work += sqrCost(limbs(r))
			scratchLen = max(scratchLen, scratchSize(limbs(r)+1, limbs(r)+1, true))
			r *= 2
		}
		work += mulCost(limbs(r), limbs(digits[k]))
		scratchLen = max(scratchLen, scratchSize(limbs(r)+2, limbs(digits[k])+1, false))
		r += digits[k]
	}
	return work + int64(limbs(r)), scratchLen // writing costs about one unit per limb
}
