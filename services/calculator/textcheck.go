package calculator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"math/bits"
)

// textCheck watches the decimal text of n! go by on its way to the store. It hashes it,
// counts it, checks it is digits only, and reduces it modulo the prime 2^61-1. Since n! mod
// 2^61-1 is cheap to compute directly (n multiplications), comparing the two catches any
// wrong digit an engine might write, with a chance of about 2^-61 of missing one, at no extra
// pass over the text.
type textCheck struct {
	hash      hash.Hash
	size      int64
	first     byte
	nonDigits bool
	residue   uint64 // value of the digits folded in so far, mod mersenne61
	pending   uint64 // up to 18 digits not folded in yet
	npending  int
}

const mersenne61 = 1<<61 - 1

// pow10 holds 10^k mod 2^61-1 (all below it, as 10^18 < 2^61-1).
var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for k := 1; k < len(p); k++ {
		p[k] = p[k-1] * 10
	}
	return p
}()

// mulmod returns a·b mod 2^61-1 for a, b below it.
func mulmod(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	// a·b = hi·2^64 + lo ≡ hi·8 + (lo >> 61) + (lo & M)  (mod M = 2^61-1)
	r := (lo & mersenne61) + (hi<<3 | lo>>61)
	r = (r & mersenne61) + (r >> 61)
	if r >= mersenne61 {
		r -= mersenne61
	}
	return r
}

func newTextCheck() *textCheck { return &textCheck{hash: sha256.New()} }

func (c *textCheck) Write(p []byte) (int, error) {
	c.hash.Write(p)
	if c.size == 0 && len(p) > 0 {
		c.first = p[0]
	}
	c.size += int64(len(p))
	for _, b := range p {
		d := uint64(b - '0')
		if d > 9 {
			c.nonDigits = true
			continue
		}
		c.pending = c.pending*10 + d
		if c.npending++; c.npending == 18 {
			c.fold()
		}
	}
	return len(p), nil
}

// fold adds the pending digits to the residue: r = r·10^k + pending.
func (c *textCheck) fold() {
	r := mulmod(c.residue, pow10[c.npending]) + c.pending
	if r >= mersenne61 {
		r -= mersenne61
	}
	c.residue, c.pending, c.npending = r, 0, 0
}

// FactorialMod returns n! mod 2^61-1.
func FactorialMod(n int64) uint64 {
	f := uint64(1)
	for i := int64(2); i <= n; i++ {
		f = mulmod(f, uint64(i)%mersenne61)
	}
	return f
}

// verify checks the text against what is known of n! without computing it again, and
// returns the hex SHA-256 of the text.
func (c *textCheck) verify(n, digits, stored int64) (string, error) {
	c.fold()
	switch {
	case c.nonDigits:
		return "", fmt.Errorf("engine wrote something other than digits for %d!", n)
	case c.size != digits:
		return "", fmt.Errorf("engine reported %d digits for %d! but wrote %d bytes", digits, n, c.size)
	case stored != c.size:
		return "", fmt.Errorf("store holds %d bytes of %d!, engine wrote %d", stored, n, c.size)
	case c.first == '0':
		return "", fmt.Errorf("text of %d! starts with a zero", n)
	}
	if want := DigitCount(n); digits < want-1 || digits > want+1 {
		return "", fmt.Errorf("%d! has %d digits, expected about %d", n, digits, want)
	}
	if want := FactorialMod(n); c.residue != want {
		return "", fmt.Errorf("text of %d! is wrong: it is %d mod 2^61-1, n! is %d", n, c.residue, want)
	}
	return hex.EncodeToString(c.hash.Sum(nil)), nil
}

// DigitCount estimates the number of decimal digits of n! from log10 Γ(n+1); it is exact
// except, in principle, within a rounding error of a power of ten.
func DigitCount(n int64) int64 {
	if n < 2 {
		return 1
	}
	lg, _ := math.Lgamma(float64(n) + 1)
	return int64(math.Floor(lg/math.Ln10)) + 1
}
