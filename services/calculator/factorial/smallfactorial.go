package factorial

import (
	"math"
	"math/bits"
	"strconv"
	"sync"
)

// smallMaxN is the largest n that the small engine computes (AppendText and Write): up to it,
// it is faster than the large engine. It is at most smallPrimesMax. (A variable only so that
// tests and benchmarks can move it.)
var smallMaxN uint64 = smallEngineReach(kernels)

// smallEngineReach is smallMaxN for the kernels the transforms run, where the small engine and
// the large one on one core take the same time. Measured with BenchmarkEngines, which times
// both from n = 5,000 to 60,000, the large one with each set of kernels, on an AMD EPYC with
// AVX-512 (Zen 5; 2 cores, load 16 to 18; best of 15 to 30; the large engine's time against
// the small one's): AVX-512 107% at 7,500, 78% at 9,000 and 55% at 20,000; pure Go 123% at
// 30,000, 113% at 40,000 and 101% at 50,000. AVX2 on an AMD EPYC without AVX-512 (Zen 3, the
// machines that run these kernels; best of 3 × 20): 163% at 12,000, 133% at 17,500, 123% at
// 20,000, 121% at 25,000, 89% at 27,500 and 82% at 30,000. (Forced on the Zen 5, AVX2 crossed
// over near 14,000: where the two cross depends on the CPU.)
func smallEngineReach(k kernelSet) uint64 {
	switch k {
	case avx512:
		return 7_500
	case avx2:
		return 25_000
	}
	return 50_000
}

// smallPrimesMax is the reach of smallPrimes.
const smallPrimesMax = 1<<16 - 1

// smallPrimes holds the primes up to smallPrimesMax, found once.
var smallPrimes = sync.OnceValue(func() []uint32 {
	var ps []uint32
	newSieve(smallPrimesMax).each(func(p uint64) { ps = append(ps, uint32(p)) })
	return ps
})

// productMaxN is the largest n for which the small engine multiplies 2..n rather than primes:
// below it, finding and grouping the primes costs more than it saves. Measured with
// BenchmarkSmallPaths, which times both ways from n = 200 to 600: on the development machine
// they take the same time within 2% from 350 to 450; below, multiplying 2..n is up to 30%
// faster, above, the primes are. (A variable only so that tests and benchmarks can move it.)
var productMaxN uint64 = 400

// dLeafWords is the number of words multiplied one by one (dmulWord) at the leaves of a
// product tree. Measured with BenchmarkLeafWords, which times n = 100 to 2,000 with 8, 16
// and 32: 32 is 5 to 15% faster than 8 up to n = 400 and even beyond. (A variable only so
// that the benchmark can move it.)
var dLeafWords = 32

// smallWork is the memory of one small computation (the words to multiply, the products and
// their scratch) in one buffer, which a pool keeps for the next computation.
type smallWork struct{ buf, exps []uint64 }

var smallPool = sync.Pool{New: func() any { return new(smallWork) }}

// smallPoolMax is the largest buffer, in words, that the pool keeps (1 MiB).
const smallPoolMax = 1 << 17

// appendSmall appends the decimal text of n! to dst for n <= smallPrimesMax.
func appendSmall(dst []byte, n uint64) []byte {
	if n <= 20 {
		return append(dst, wordFactorialTexts[n]...)
	}
	if n <= directMaxN {
		return appendDirect(dst, n)
	}
	w := smallPool.Get().(*smallWork)
	m, zeros := w.factorial(n)
	dst = appendDnat(dst, m)
	for ; zeros > 0; zeros-- {
		dst = append(dst, '0')
	}
	if len(w.buf) <= smallPoolMax {
		smallPool.Put(w)
	}
	return dst
}

// wordFactorials holds n! for n <= 20, the factorials that fit in a word, as GMP keeps them;
// wordFactorialTexts holds their decimal text, so that Write hands it over as it is.
var (
	wordFactorials = func() (t [21]uint64) {
		t[0] = 1
		for i := uint64(1); i <= 20; i++ {
			t[i] = t[i-1] * i
		}
		return t
	}()
	wordFactorialTexts = func() (t [21][]byte) {
		for i, f := range wordFactorials {
			t[i] = strconv.AppendUint(nil, f, 10)
		}
		return t
	}()
)

// directMaxN is the largest n that appendDirect computes: beyond, the product path is
// faster. Measured with BenchmarkSmallPaths (direct against numbers from n = 40 to 100): the
// direct way is 20% faster at 40 and 47, even at 60, and 20% slower at 100. (A variable only
// so that the benchmark can move it; at most 100.)
var directMaxN uint64 = 60

// shoupFours holds, for i = 21, 25, 29, ... up to directMaxN, m = i(i+1)(i+2)(i+3) and
// floor(m*2^64/10^18), so that appendDirect multiplies by four numbers at a time without a
// division (see dmulWord).
var shoupFours = func() (t [][2]uint64) {
	for i := uint64(21); i+3 <= 100; i += 4 {
		m := i * (i + 1) * (i + 2) * (i + 3)
		q, _ := bits.Div64(m, 0, dBase)
		t = append(t, [2]uint64{m, q})
	}
	return t
}()

// appendDirect appends the decimal text of n! for 21 <= n <= directMaxN (<= 100), computed
// in limbs of 10^18 from 20!, four numbers at a time.
func appendDirect(dst []byte, n uint64) []byte {
	var limbs [10]uint64 // 100! has 9 limbs
	x := dnat(limbs[:2])
	x[0], x[1] = wordFactorials[20]%dBase, wordFactorials[20]/dBase
	i := uint64(21)
	for k := 0; i+3 <= n; i, k = i+4, k+1 {
		x = mulShoup(x, shoupFours[k][0], shoupFours[k][1])
	}
	if i <= n {
		m := uint64(1)
		for ; i <= n; i++ {
			m *= i
		}
		q, _ := bits.Div64(m, 0, dBase)
		x = mulShoup(x, m, q)
	}
	return appendDnat(dst, x)
}

// words returns w's buffer with at least n words.
func (w *smallWork) words(n int) []uint64 {
	if len(w.buf) < n {
		w.buf = make([]uint64, n)
	}
	return w.buf
}

// factorial returns n! = m * 10^zeros for 2 <= n <= smallPrimesMax, like task.factorial, in the
// calling goroutine, with the arithmetic of small.go; m lives in w's buffer.
//
// Up to productMaxN it multiplies the numbers 2..n, packed into words below 10^18, as a product
// tree. Beyond, the primes' exponents are split by their bits, each group's primes are packed
// into words and multiplied as a product tree, and the groups are combined by a chain of
// squarings. Either way the factors 5, and as many factors 2, are left out: they make the
// trailing zeros.
func (w *smallWork) factorial(n uint64) (m dnat, zeros int64) {
	zeros = int64(multiplicity(n, 5))
	if n <= productMaxN {
		limbs := dproductLimbs(int(n))
		buf := w.words(int(n) + limbs + dproductScratch(int(n)))
		ws := packProduct(buf[:0:n], n, uint64(zeros))
		return dproduct(dnat(buf[n:int(n)+limbs]), ws, buf[int(n)+limbs:]), zeros
	}
	limbs := int(log10Factorial(n)-float64(zeros))/dDigits + 2

	// Group k's words will be ws[start[k]:end[k]]; a group has at most as many words as primes.
	var count, start, end [24]int
	groups := 0
	w.exps = exponents(w.exps[:0], n, uint64(zeros))
	for _, e := range w.exps {
		for k := 0; e > 0; k, e = k+1, e>>1 {
			count[k] += int(e & 1)
			groups = max(groups, k+1)
		}
	}
	total, most := 0, 0
	for k := range groups {
		start[k], end[k] = total, total
		total += count[k]
		most = max(most, count[k])
	}
	gl := dproductLimbs(most)
	buf := w.words(total + 2*limbs + gl + max(dproductScratch(most), dmulScratch(limbs, limbs)))
	ws, buf := buf[:total], buf[total:]
	a, b, g, scratch := dnat(buf[:limbs]), dnat(buf[limbs:2*limbs]), dnat(buf[2*limbs:2*limbs+gl]), buf[2*limbs+gl:]

	var cur [24]uint64
	primes := smallPrimes()[:len(w.exps)]
	for i, e := range w.exps {
		p := uint64(primes[i])
		for k := 0; e > 0; k, e = k+1, e>>1 {
			if e&1 == 0 {
				continue
			}
			if hi, lo := bits.Mul64(cur[k], p); hi == 0 && lo < dBase && cur[k] != 0 {
				cur[k] = lo
				continue
			}
			if cur[k] != 0 {
				ws[end[k]] = cur[k]
				end[k]++
			}
			cur[k] = p
		}
	}
	for k := range groups {
		if cur[k] != 0 {
			ws[end[k]] = cur[k]
			end[k]++
		}
	}

	r := a[:1]
	r[0] = 1
	for k := groups - 1; k >= 0; k-- {
		if k < groups-1 {
			z := b[:2*len(r)]
			if len(r) < sqrKaratsubaMin {
				dsqrSchool(z, r)
			} else {
				dsqr(z, r, scratch)
			}
			r, a, b = z.norm(), b, a
		}
		if end[k] > start[k] {
			x := dproduct(g, ws[start[k]:end[k]], scratch)
			z := b[:len(r)+len(x)]
			if min(len(r), len(x)) < karatsubaMin {
				dmulSchool(z, r, x)
			} else {
				dmul(z, r, x, scratch)
			}
			r, a, b = z.norm(), b, a
		}
	}
	return r, zeros
}

// exponents appends to es the exponent in n!/10^zeros of each prime up to n (n <= smallPrimesMax)
// in increasing order (0 for 5). Above sqrt(n) the exponent is n/p, the same for runs of
// primes: it is found once per run, not divided out for every prime.
func exponents(es []uint64, n, zeros uint64) []uint64 {
	var e, limit uint64 // e = n/p for the primes up to limit
	for _, p32 := range smallPrimes() {
		p := uint64(p32)
		switch {
		case p > n:
			return es
		case p == 2:
			es = append(es, multiplicity(n, 2)-zeros)
		case p == 5:
			es = append(es, 0)
		case p*p <= n:
			es = append(es, multiplicity(n, p))
		default:
			if p > limit {
				e = n / p
				limit = n / e
			}
			es = append(es, e)
		}
	}
	return es
}

// packProduct appends to ws the numbers 2..n without their factors 5 and without zeros
// factors 2, packed into words below 10^18, and returns it (at most n words). n < 2^16.
func packProduct(ws []uint64, n, zeros uint64) []uint64 {
	var p packer
	// Ten numbers at a time: only two of them can hold a factor 5, and their products two by
	// two (below 2^32) halve the chain of products in the word being filled.
	base := uint64(0)
	for ; base+10 <= n; base += 10 {
		p.put(&ws, (base+1)*(base+3))
		p.put(&ws, (base+7)*(base+9))
		p.put(&ws, p.odd(base+2)*p.odd(base+4))
		p.put(&ws, p.odd(base+6)*p.odd(base+8))
		p.put(&ws, no5(base+5)*no5(p.odd(base+10)))
	}
	for i := max(base+1, 2); i <= n; i++ {
		p.put(&ws, no5(p.odd(i)))
	}
	// The factors 2 that are left, as whole words of 2^59 and the rest.
	twos := p.twos - zeros
	for ; twos >= 59; twos -= 59 {
		ws = append(ws, 1<<59)
	}
	p.put(&ws, 1<<twos)
	return append(ws, p.w)
}

// packer fills words below 10^18 with factors.
type packer struct{ w, twos uint64 }

// put multiplies v (below 10^18) into the word being filled, or appends that word to ws and
// starts another with v when the product would reach 10^18: words are limbs, so that
// dmulWord can multiply by them.
func (p *packer) put(ws *[]uint64, v uint64) {
	if p.w == 0 {
		p.w = 1
	}
	hi, lo := bits.Mul64(p.w, v)
	if hi != 0 || lo >= dBase {
		*ws = append(*ws, p.w)
		lo = v
	}
	p.w = lo
}

// odd returns i without its factors 2, which it counts.
func (p *packer) odd(i uint64) uint64 {
	tz := uint64(bits.TrailingZeros64(i))
	p.twos += tz
	return i >> tz
}

// no5 returns i without its factors 5.
func no5(i uint64) uint64 {
	for i%5 == 0 {
		i /= 5
	}
	return i
}

// log10Factorial returns log10(n!) within a small fraction of a digit.
func log10Factorial(n uint64) float64 {
	lg, _ := math.Lgamma(float64(n) + 1)
	return lg / math.Ln10
}

// dproductLimbs bounds the limbs of a product of k words, each a limb.
func dproductLimbs(k int) int { return k + 1 }

// dproductScratch returns the scratch length that dproduct needs for k words.
func dproductScratch(k int) int {
	if k <= dLeafWords {
		return 0
	}
	h := k / 2
	lx, ly := dproductLimbs(h), dproductLimbs(k-h)
	return lx + ly + max(dproductScratch(k-h), dmulScratch(lx, ly))
}

// dproduct stores the product of the words ws (at least one) in z, which has room for it
// (dproductLimbs), and returns it normalised; scratch has dproductScratch(len(ws)) words.
func dproduct(z dnat, ws []uint64, scratch []uint64) dnat {
	if len(ws) <= dLeafWords {
		z = append(z[:0], ws[0])
		for _, w := range ws[1:] {
			z = dmulWord(z, w)
		}
		return z
	}
	h := len(ws) / 2
	lx, ly := dproductLimbs(h), dproductLimbs(len(ws)-h)
	x := dproduct(scratch[:lx], ws[:h], scratch[lx+ly:])
	y := dproduct(scratch[lx:lx+ly], ws[h:], scratch[lx+ly:])
	z = z[:len(x)+len(y)]
	if min(len(x), len(y)) < karatsubaMin {
		dmulSchool(z, x, y)
	} else {
		dmul(z, x, y, scratch[lx+ly:])
	}
	return z.norm()
}
