package calculator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
)

// textCheck watches the decimal text of n! go by: it hashes it, counts its bytes and its
// trailing zeros, and checks it is digits only. Together with the digit count these catch an
// engine that writes a wrong number, at no extra pass over the text.
type textCheck struct {
	hash      hash.Hash
	size      int64
	trailing  int64 // zeros at the end of what has been written so far
	first     byte
	nonDigits bool
}

func newTextCheck() *textCheck { return &textCheck{hash: sha256.New()} }

func (c *textCheck) Write(p []byte) (int, error) {
	c.hash.Write(p)
	if c.size == 0 && len(p) > 0 {
		c.first = p[0]
	}
	c.size += int64(len(p))
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != '0' {
			c.trailing = int64(len(p) - 1 - i)
			break
		}
		if i == 0 {
			c.trailing += int64(len(p))
		}
	}
	for _, b := range p {
		if b < '0' || b > '9' {
			c.nonDigits = true
			break
		}
	}
	return len(p), nil
}

// verify checks the text against what is known of n! without computing it, and returns the
// hex SHA-256 of the text.
func (c *textCheck) verify(n, digits, stored int64) (string, error) {
	switch {
	case c.nonDigits:
		return "", fmt.Errorf("engine wrote something other than digits for %d!", n)
	case c.size != digits:
		return "", fmt.Errorf("engine reported %d digits for %d! but wrote %d bytes", digits, n, c.size)
	case stored != c.size:
		return "", fmt.Errorf("store holds %d bytes of %d!, engine wrote %d", stored, n, c.size)
	case c.first == '0' && c.size > 1:
		return "", fmt.Errorf("text of %d! has a leading zero", n)
	}
	if want := DigitCount(n); digits < want-1 || digits > want+1 {
		return "", fmt.Errorf("%d! has %d digits, expected about %d", n, digits, want)
	}
	if want := TrailingZeros(n); c.trailing != want {
		return "", fmt.Errorf("%d! ends in %d zeros, expected %d", n, c.trailing, want)
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

// TrailingZeros is the exact number of zeros n! ends with (Legendre's formula for 5).
func TrailingZeros(n int64) int64 {
	var z int64
	for p := int64(5); p <= n; p *= 5 {
		z += n / p
	}
	return z
}
