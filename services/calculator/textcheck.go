package calculator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"math/bits"
	"sync"

	"github.com/factorial-service/factorial/events"
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
	n := len(p)
	c.hash.Write(p)
	if c.size == 0 && len(p) > 0 {
		c.first = p[0]
	}
	c.size += int64(len(p))
	// Eight digits at a time (SWAR: checked and parsed in a few operations on one word);
	// byte by byte at the end, and for any eight that are not all digits. The byte loop
	// was 4 to 5% of a calculator's CPU under make bench-load.
	for len(p) >= 8 {
		v := binary.LittleEndian.Uint64(p)
		if !eightDigits(v) {
			c.bytes(p[:8])
		} else {
			if c.npending > 10 { // 10^18 < 2^61-1: at most 18 digits pending
				c.fold()
			}
			c.pending = c.pending*1e8 + parseEight(v)
			c.npending += 8
		}
		p = p[8:]
	}
	c.bytes(p)
	return n, nil
}

// bytes folds p in one byte at a time.
func (c *textCheck) bytes(p []byte) {
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
}

// eightDigits reports whether the eight bytes of v are all ASCII digits: each byte's high
// nibble is 3, and adding 6 to it does not carry into the next nibble (its low one is ≤ 9).
func eightDigits(v uint64) bool {
	const hi, three, six = 0xF0F0F0F0F0F0F0F0, 0x3030303030303030, 0x0606060606060606
	return v&hi == three && (v+six)&hi == three
}

// parseEight returns the value of eight ASCII digits, the first in v's lowest byte (a
// little-endian load): pairs, then fours, then the eight (simdjson's parse_eight_digits).
func parseEight(v uint64) uint64 {
	v -= 0x3030303030303030
	v = v*10 + v>>8
	return ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
}

// fold adds the pending digits to the residue: r = r·10^k + pending.
func (c *textCheck) fold() {
	r := mulmod(c.residue, pow10[c.npending]) + c.pending
	if r >= mersenne61 {
		r -= mersenne61
	}
	c.residue, c.pending, c.npending = r, 0, 0
}

// FactorialMod returns n! mod 2^61-1: from a table for the small lane's numbers (built on
// first use: 20,000 multiplications, 160 KB), by n multiplications from the table's last
// above. Computed for each result, it was 4% of a calculator's CPU under make bench-load.
func FactorialMod(n int64) uint64 {
	table := smallFactorialMods()
	if n < int64(len(table)) {
		return table[max(n, 0)]
	}
	f := table[len(table)-1]
	for i := int64(len(table)); i <= n; i++ {
		f = mulmod(f, uint64(i)%mersenne61)
	}
	return f
}

// smallFactorialMods holds n! mod 2^61-1 for n from 0 to events.SmallMaxNumber.
var smallFactorialMods = sync.OnceValue(func() []uint64 {
	t := make([]uint64, events.SmallMaxNumber+1)
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = mulmod(t[i-1], uint64(i))
	}
	return t
})

// verify checks the text against what is known of n! without computing it again, and
// returns the hex SHA-256 of the text.
func (c *textCheck) verify(n, digits, stored int64) (string, error) {
	c.fold()
	switch {
	case c.nonDigits:
		//lint:ignore ST1005 the "!" is the factorial's, not punctuation
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
