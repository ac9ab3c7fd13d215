package factorial

import "math/bits"

// nat is a non-negative integer in base 10^6: limbs in [0, 10^6), least significant first, with
// no most significant zero limbs (zero is the empty nat). Working in a power of ten means the
// decimal text falls out of the limbs directly, with no base conversion.
type nat []uint32

const (
	limbBase   = 1_000_000
	limbDigits = 6
)

// norm drops most significant zero limbs.
func (z nat) norm() nat {
	i := len(z)
	for i > 0 && z[i-1] == 0 {
		i--
	}
	return z[:i]
}

// addAt adds y*base^k into z in place; z must be long enough to hold the sum.
func addAt(z, y nat, k int) {
	var carry uint32
	i := k
	for _, d := range y {
		v := z[i] + d + carry
		carry = 0
		if v >= limbBase {
			v -= limbBase
			carry = 1
		}
		z[i] = v
		i++
	}
	for ; carry > 0; i++ {
		v := z[i] + 1
		carry = 0
		if v == limbBase {
			v = 0
			carry = 1
		}
		z[i] = v
	}
}

// mulSchool returns x*y by long multiplication, for short operands.
func mulSchool(x, y nat) nat {
	acc := make([]uint64, len(x)+len(y))
	for i, a := range x {
		if a == 0 {
			continue
		}
		row := acc[i : i+len(y)]
		for j, b := range y {
			row[j] += uint64(a) * uint64(b) // each term < 10^12; at most len(y) terms per cell
		}
	}
	return carryOut(acc, make(nat, len(acc)))
}

// carryOut stores the coefficients acc as base-10^6 limbs in z (len(z) >= len(acc)), which must
// be long enough for the value, and returns z normalised. Each coefficient is a value below
// maxConv*(10^6-1)^2, possibly plus the modulus p of the transforms (see canonical). z may
// share acc's storage from its start (z = limbsOf(acc)): limb i overwrites half of word i/2,
// which has been read by then.
func carryOut(acc []uint64, z nat) nat {
	finish(z[len(acc):], carryInto(z, acc, 0))
	return z.norm()
}

// carryInto stores the coefficients acc, plus carry at the first, as limbs in z[:len(acc)] and
// returns the carry out of the last.
func carryInto(z nat, acc []uint64, carry uint64) uint64 {
	for i, c := range acc {
		v, over := bits.Add64(canonical(c), carry, 0)
		if over != 0 {
			panic("factorial: coefficient overflow") // excluded by the callers' bounds
		}
		z[i] = uint32(v % limbBase)
		carry = v / limbBase
	}
	return carry
}

// finish stores carry as the limbs z.
func finish(z nat, carry uint64) {
	for i := range z {
		z[i] = uint32(carry % limbBase)
		carry /= limbBase
	}
	if carry != 0 {
		panic("factorial: result longer than expected")
	}
}
