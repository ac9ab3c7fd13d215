package factorial

import "math/bits"

// sieve is the set of odd composite numbers up to n: bit i stands for 2i+1. A bit per odd
// number keeps it to n/16 bytes (6 MB for MaxN).
type sieve struct {
	n    uint64
	bits []uint64
}

func newSieve(n uint64) sieve {
	size := (n + 1) / 2 // odd numbers 1, 3, ..., up to n
	s := sieve{n: n, bits: make([]uint64, (size+63)/64)}
	for i := uint64(1); i < size; i++ {
		p := 2*i + 1
		if p*p > n {
			break
		}
		if s.bits[i/64]&(1<<(i%64)) != 0 {
			continue
		}
		for j := p * p / 2; j < size; j += p {
			s.bits[j/64] |= 1 << (j % 64)
		}
	}
	return s
}

// each calls f with every prime up to n in increasing order.
func (s sieve) each(f func(p uint64)) {
	if s.n < 2 {
		return
	}
	f(2)
	size := (s.n + 1) / 2
	for w, word := range s.bits {
		free := ^word
		if w == 0 {
			free &^= 1 // 1 is not prime
		}
		for free != 0 {
			i := uint64(w)*64 + uint64(bits.TrailingZeros64(free))
			if i >= size {
				return
			}
			f(2*i + 1)
			free &= free - 1
		}
	}
}

// multiplicity returns the exponent of the prime p in n! (Legendre's formula).
func multiplicity(n, p uint64) uint64 {
	var e uint64
	for q := n / p; q > 0; q /= p {
		e += q
	}
	return e
}

// exponentGroups returns the number of trailing zeros of n!, zeros, and groups the primes up
// to n by the bits of their exponents in n!/10^zeros: group k holds the primes whose exponent
// has bit k set, so that n! = 10^zeros * prod_k (prod group k)^(2^k). (The exponent of 5 in n!
// is zeros, and that of 2 is larger.)
func exponentGroups(n uint64) (groups [][]uint32, zeros int64) {
	zeros = int64(multiplicity(n, 5))
	exponent := func(p uint64) uint64 {
		switch p {
		case 2:
			return multiplicity(n, 2) - uint64(zeros)
		case 5:
			return 0
		}
		return multiplicity(n, p)
	}
	// Two passes, counting then filling, so that each group is allocated once at its size.
	s := newSieve(n)
	var sizes []int
	s.each(func(p uint64) {
		for k, e := 0, exponent(p); e > 0; k, e = k+1, e>>1 {
			for len(sizes) <= k {
				sizes = append(sizes, 0)
			}
			sizes[k] += int(e & 1)
		}
	})
	groups = make([][]uint32, len(sizes))
	for k, size := range sizes {
		groups[k] = make([]uint32, 0, size)
	}
	s.each(func(p uint64) {
		for k, e := 0, exponent(p); e > 0; k, e = k+1, e>>1 {
			if e&1 == 1 {
				groups[k] = append(groups[k], uint32(p))
			}
		}
	})
	return groups, zeros
}
