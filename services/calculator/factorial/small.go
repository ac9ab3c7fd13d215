package factorial

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// The small engine: n! for small n, where a number has at most a few thousand digits and the
// transforms of the large engine cost more than they save. It runs in the calling goroutine
// with long multiplication and Karatsuba's method on limbs of 18 decimal digits: three times
// fewer limbs than base 10^6, and nine times fewer limb products, at the price of a 128-bit
// product and a division by 10^18 per column of the product (by multiplication with a
// precomputed reciprocal, not by a division instruction).

// dnat is a non-negative integer in base 10^18, least significant limb first. Functions accept
// most significant zero limbs and say when they remove them.
type dnat []uint64

const (
	dBase   = 1_000_000_000_000_000_000
	dDigits = 18

	// dNorm is dBase shifted so that its top bit is set, as divBase needs, and dInv its
	// reciprocal floor((2^128-1)/dNorm) - 2^64.
	dNorm  = dBase << dShift
	dShift = 4
	dInv   = 0x2725dd1d243aba0e
)

// divBase returns (u1*2^64 + u0) / 10^18 and the remainder, for u1 < 10^18. It divides by the
// normalised divisor with its reciprocal: algorithm 4 of Möller and Granlund, "Improved
// division by invariant integers" (IEEE Transactions on Computers, 2011).
func divBase(u1, u0 uint64) (q, r uint64) {
	n1, n0 := u1<<dShift|u0>>(64-dShift), u0<<dShift
	q, ql := bits.Mul64(dInv, n1)
	ql, c := bits.Add64(ql, n0, 0)
	q += n1 + c + 1
	r = n0 - q*dNorm
	if r > ql {
		q--
		r += dNorm
	}
	if r >= dNorm {
		q++
		r -= dNorm
	}
	return q, r >> dShift
}

// norm drops most significant zero limbs.
func (z dnat) norm() dnat {
	i := len(z)
	for i > 0 && z[i-1] == 0 {
		i--
	}
	return z[:i]
}

// dmulWord returns x*w for w < 10^18, reusing x's storage when it has room.
func dmulWord(x dnat, w uint64) dnat {
	ws, _ := bits.Div64(w, 0, dBase)
	return mulShoup(x, w, ws)
}

// mulShoup returns x*w for w < 10^18 and ws = floor(w*2^64/10^18), reusing x's storage when
// it has room. It divides by 10^18 without a division: q = floor(x[i]*ws/2^64) is the
// quotient of x[i]*w by 10^18 or one less (Shoup's method), and the remainder
// x[i]*w - q*10^18 < 2*10^18 is exact in 64-bit arithmetic. The carry into the next limb is
// that quotient (below 10^18), so successive limbs hardly wait for one another.
func mulShoup(x dnat, w, ws uint64) dnat {
	var carry uint64
	for i, d := range x {
		q, _ := bits.Mul64(d, ws)
		r := d*w - q*dBase
		if r >= dBase {
			r -= dBase
			q++
		}
		r += carry
		if r >= dBase {
			r -= dBase
			q++
		}
		x[i], carry = r, q
	}
	if carry > 0 {
		x = append(x, carry)
	}
	return x
}

// schoolMax18 is the longest shorter operand of a long multiplication (dmulSchool). It keeps
// a column below 256 products of two limbs, each below 2^120, so that a column sum and its
// carry fit in 128 bits.
const schoolMax18 = 255

// dmulSchool stores x*y in z (len(z) = len(x)+len(y); z shares no storage with x or y). It
// computes the product column by column (product scanning), carrying once per column.
// min(len(x), len(y)) must be at most schoolMax18.
func dmulSchool(z, x, y dnat) {
	if len(x) < len(y) {
		x, y = y, x
	}
	lx, ly := len(x), len(y)
	if ly == 0 {
		clear(z)
		return
	}
	// Column k sums x[i]*y[k-i]; with y reversed, both run forward: y[k-i] = yr[ly-1-k+i].
	var yr [schoolMax18]uint64
	for j, d := range y {
		yr[ly-1-j] = d
	}
	var c1, c0 uint64 // carry into the next column
	for k := range lx + ly - 1 {
		lo, hi := max(0, k-ly+1), min(k, lx-1)
		s1, s0 := dot(x[lo:hi+1], yr[ly-1-k+lo:ly])
		c1, c0, z[k] = divColumn(s1, s0, c1, c0)
	}
	z[lx+ly-1] = c0 // the product has lx+ly limbs, so the last carry is a limb
}

// divColumn adds the carry (c1, c0) to the column sum (s1, s0) and returns the sum divided by
// 10^18 (the carry out) and its remainder (the limb).
func divColumn(s1, s0, c1, c0 uint64) (q1, q0, limb uint64) {
	s0, c := bits.Add64(s0, c0, 0)
	s1 += c1 + c
	q1, r1 := s1/dBase, s1%dBase
	q0, limb = divBase(r1, s0)
	return q1, q0, limb
}

// dot returns the sum of xs[i]*ys[i] for i < len(xs) <= len(ys), at most 256 terms, as 128 bits.
func dot(xs, ys []uint64) (s1, s0 uint64) {
	ys = ys[:len(xs)]
	var t1, t0 uint64 // a second sum, for two independent chains of additions
	i := 0
	for ; i+1 < len(xs); i += 2 {
		ph, pl := bits.Mul64(xs[i], ys[i])
		qh, ql := bits.Mul64(xs[i+1], ys[i+1])
		var c, d uint64
		s0, c = bits.Add64(s0, pl, 0)
		s1 += ph + c
		t0, d = bits.Add64(t0, ql, 0)
		t1 += qh + d
	}
	if i < len(xs) {
		ph, pl := bits.Mul64(xs[i], ys[i])
		var c uint64
		s0, c = bits.Add64(s0, pl, 0)
		s1 += ph + c
	}
	var c uint64
	s0, c = bits.Add64(s0, t0, 0)
	return s1 + t1 + c, s0
}

// dsqrSchool stores x*x in z (len(z) = 2*len(x); z shares no storage with x), using each
// cross product once. len(x) must be at most schoolMax18.
func dsqrSchool(z, x dnat) {
	l := len(x)
	if l == 0 {
		return
	}
	var xr [schoolMax18]uint64 // x reversed: x[j] = xr[l-1-j]
	for j, d := range x {
		xr[l-1-j] = d
	}
	var c1, c0 uint64
	for k := range 2*l - 1 {
		// Cross products x[i]*x[k-i] for lo <= i < mid, mid = ceil(k/2), doubled.
		lo, mid := max(0, k-l+1), (k+1)/2
		var s1, s0 uint64
		if lo < mid {
			s1, s0 = dot(x[lo:mid], xr[l-1-k+lo:l])
			s1, s0 = s1<<1|s0>>63, s0<<1
		}
		if k%2 == 0 {
			ph, pl := bits.Mul64(x[k/2], x[k/2])
			var c uint64
			s0, c = bits.Add64(s0, pl, 0)
			s1 += ph + c
		}
		c1, c0, z[k] = divColumn(s1, s0, c1, c0)
	}
	z[2*l-1] = c0
}

// dadd stores x+y in z (len(z) >= max(len(x), len(y))+1), zero-filling the rest of z.
func dadd(z, x, y dnat) {
	if len(x) < len(y) {
		x, y = y, x
	}
	var c uint64
	for i, a := range y {
		s := x[i] + a + c
		c = 0
		if s >= dBase {
			s -= dBase
			c = 1
		}
		z[i] = s
	}
	for i := len(y); i < len(x); i++ {
		s := x[i] + c
		c = 0
		if s >= dBase {
			s -= dBase
			c = 1
		}
		z[i] = s
	}
	z[len(x)] = c
	clear(z[len(x)+1:])
}

// dsubFrom sets z -= y in place; z must be at least y.
func dsubFrom(z, y dnat) {
	var b uint64
	for i, a := range y {
		d := z[i] - a - b
		b = 0
		if int64(d) < 0 { // limbs are below 2^60, so a difference below zero is negative
			d += dBase
			b = 1
		}
		z[i] = d
	}
	for i := len(y); b > 0; i++ {
		d := z[i] - b
		b = 0
		if int64(d) < 0 {
			d += dBase
			b = 1
		}
		z[i] = d
	}
}

// daddAt adds y*B^k into z in place; z must be long enough for the sum.
func daddAt(z, y dnat, k int) {
	var c uint64
	i := k
	for _, a := range y {
		s := z[i] + a + c
		c = 0
		if s >= dBase {
			s -= dBase
			c = 1
		}
		z[i] = s
		i++
	}
	for ; c > 0; i++ {
		s := z[i] + c
		c = 0
		if s >= dBase {
			s -= dBase
			c = 1
		}
		z[i] = s
	}
}

// karatsubaMin is the shorter operand from which dmul uses Karatsuba's method rather than
// long multiplication; sqrKaratsubaMin is the same for squares (long squaring computes each
// cross product once, so it holds out longer). Both must stay at most schoolMax18. Measured
// with BenchmarkKaratsubaThresholds, which times dmul and dsqr from 128 to 2048 limbs with
// thresholds from 48 to 192: on the development machine (AMD EPYC, Zen 5) the times are flat
// within a few per cent from 80 to 128 for products and from 112 to 192 for squares, and 15
// to 50% higher at 64 and below. (Variables only so that the benchmark can move them.)
var (
	karatsubaMin    = 96
	sqrKaratsubaMin = 160
)

// dmulScratch returns the scratch length that dmul needs for operands of lx and ly limbs.
func dmulScratch(lx, ly int) int { return 6 * (lx + ly + 64) }

// dmul stores x*y in z (len(z) = len(x)+len(y); z shares no storage with x, y or scratch).
func dmul(z, x, y dnat, scratch []uint64) {
	if len(x) < len(y) {
		x, y = y, x
	}
	lx, ly := len(x), len(y)
	switch {
	case ly == 0:
		clear(z)
		return
	case ly < karatsubaMin:
		dmulSchool(z, x, y)
		return
	case lx >= 2*ly:
		// Unbalanced: x in pieces as long as y, each product added in.
		clear(z)
		p := scratch[:2*ly]
		for off := 0; off < lx; off += ly {
			piece := x[off:min(off+ly, lx)]
			q := dnat(p[:len(piece)+ly])
			dmul(q, piece, y, scratch[2*ly:])
			daddAt(z, q.norm(), off)
		}
		return
	}
	// x = x1*B^h + x0, y = y1*B^h + y0, with h >= len(y1):
	// x*y = z2*B^2h + ((x0+x1)(y0+y1) - z0 - z2)*B^h + z0, z0 = x0*y0, z2 = x1*y1.
	h := (lx + 1) / 2
	x0, x1, y0, y1 := x[:h], x[h:], y[:h], y[h:]
	dmul(z[:2*h], x0, y0, scratch)
	dmul(z[2*h:], x1, y1, scratch)
	sx, sy := scratch[:h+1], scratch[h+1:2*h+2]
	dadd(sx, x0, x1)
	dadd(sy, y0, y1)
	m := dnat(scratch[2*h+2 : 4*h+4])
	dmul(m, sx, sy, scratch[4*h+4:])
	dsubFrom(m, z[:2*h].norm())
	dsubFrom(m, z[2*h:].norm())
	daddAt(z, m.norm(), h)
}

// dsqr stores x*x in z (len(z) = 2*len(x); z shares no storage with x or scratch).
func dsqr(z, x dnat, scratch []uint64) {
	l := len(x)
	if l < sqrKaratsubaMin {
		dsqrSchool(z, x)
		return
	}
	// x^2 = x1^2*B^2h + ((x0+x1)^2 - x0^2 - x1^2)*B^h + x0^2.
	h := (l + 1) / 2
	x0, x1 := x[:h], x[h:]
	dsqr(z[:2*h], x0, scratch)
	dsqr(z[2*h:], x1, scratch)
	s := scratch[:h+1]
	dadd(s, x0, x1)
	m := dnat(scratch[h+1 : 3*h+3])
	dsqr(m, s, scratch[3*h+3:])
	dsubFrom(m, z[:2*h].norm())
	dsubFrom(m, z[2*h:].norm())
	daddAt(z, m.norm(), h)
}

// appendDnat appends the decimal text of x (x > 0, normalised) to dst.
func appendDnat(dst []byte, x dnat) []byte {
	top := len(x) - 1
	dst = strconv.AppendUint(dst, x[top], 10)
	at := len(dst)
	dst = grow(dst, top*dDigits)[:at+top*dDigits]
	for i := top - 1; i >= 0; i-- {
		putLimb((*[dDigits]byte)(dst[at:]), x[i])
		at += dDigits
	}
	return dst
}

// putLimb writes the 18 decimal digits of d < 10^18, with leading zeros, to b.
func putLimb(b *[dDigits]byte, d uint64) {
	top, rest := d/1e16, d%1e16
	b[0], b[1] = pairs[2*top], pairs[2*top+1]
	put8((*[8]byte)(b[2:10]), uint32(rest/1e8))
	put8((*[8]byte)(b[10:]), uint32(rest%1e8))
}

// put8 writes the eight decimal digits of y < 10^8, with leading zeros, to b, computing them
// side by side in one word: two halves of four digits, then four of two, then eight of one.
func put8(b *[8]byte, y uint32) {
	v := uint64(y/10000) | uint64(y%10000)<<32 // 32-bit lanes below 10^4
	q := (v * 5243 >> 19) & 0x0000007f0000007f // lane/100, exact below 43,699
	v = q | (v-q*100)<<16                      // 16-bit lanes below 100
	q = (v * 103 >> 10) & 0x000f000f000f000f   // lane/10, exact below 179
	binary.LittleEndian.PutUint64(b[:], q|(v-q*10)<<8|0x3030303030303030)
}
