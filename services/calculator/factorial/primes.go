package factorial

// primesUpTo returns the primes up to n in increasing order (n < 2^32).
func primesUpTo(n uint64) []uint32 {
	if n < 2 {
		return nil
	}
	// composite[i] tells whether the odd number 2i+1 is composite.
	size := (n + 1) / 2
	composite := make([]bool, size)
	primes := []uint32{2}
	for i := uint64(1); i < size; i++ {
		if composite[i] {
			continue
		}
		p := 2*i + 1
		primes = append(primes, uint32(p))
		for j := p * p / 2; j < size; j += p {
			composite[j] = true
		}
	}
	return primes
}

// multiplicity returns the exponent of the prime p in n! (Legendre's formula).
func multiplicity(n, p uint64) uint64 {
	var e uint64
	for q := n / p; q > 0; q /= p {
		e += q
	}
	return e
}

// exponentGroups groups the primes up to n by the bits of their exponents in n!: group k holds
// the primes whose exponent has bit k set, so that n! = prod_k (prod group k)^(2^k).
func exponentGroups(n uint64) [][]uint32 {
	var groups [][]uint32
	for _, p := range primesUpTo(n) {
		e := multiplicity(n, uint64(p))
		for k := 0; e > 0; k, e = k+1, e>>1 {
			if e&1 == 0 {
				continue
			}
			for len(groups) <= k {
				groups = append(groups, nil)
			}
			groups[k] = append(groups[k], p)
		}
	}
	return groups
}
