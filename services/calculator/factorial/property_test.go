package factorial

import (
	"bytes"
	"context"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestWriteMatchesMathBig checks random n up to 20,000 (both engines) with each set of
// kernels.
func TestWriteMatchesMathBig(t *testing.T) {
	withKernels(t, writeMatchesMathBig)
}

func writeMatchesMathBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ns := []uint64{0, 1, 2, 3, 12, 13, 25, 26, 100, 1024, 20000}
	for range 60 {
		ns = append(ns, rng.Uint64N(20001))
	}
	for _, n := range ns {
		var buf bytes.Buffer
		digits, err := Write(context.Background(), n, &buf, nil)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		want := new(big.Int).MulRange(1, int64(n)).Text(10)
		if got := buf.String(); got != want {
			t.Fatalf("n=%d: text differs from math/big (got %d digits, want %d)", n, len(got), len(want))
		}
		if digits != int64(len(want)) {
			t.Fatalf("n=%d: digits = %d, want %d", n, digits, len(want))
		}
	}
}

func TestWriteRejectsHugeN(t *testing.T) {
	if _, err := Write(context.Background(), MaxN+1, &bytes.Buffer{}, nil); err != ErrTooLarge {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// FuzzDecimal checks the decimal arithmetic and text output against math/big: the product of
// two numbers, built in base 10^6 and printed by writeDecimal, against big.Int.Mul and Text(10).
// Equal operands are squared in an arena, in one transform, in a shorter one that wraps around,
// or in blocks (which comes from the length of a modulo 5); different ones are multiplied on the
// heap, or in an arena in pieces when a has an odd length. The seeds reach long multiplication,
// whole and piecewise transforms, all the ways to square, and lengths 3*2^k. Each input is
// checked with each set of kernels the CPU runs.
func FuzzDecimal(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	f.Add([]byte{}, []byte{7})
	f.Add([]byte{1}, []byte{1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{0xff, 0xff})
	f.Add(randomBytes(100), randomBytes(30))
	f.Add(randomBytes(400), randomBytes(300))
	f.Add(randomBytes(5001), randomBytes(200)) // odd length: in an arena, in place
	f.Add(randomBytes(4000), randomBytes(150))
	f.Add(randomBytes(20000), randomBytes(19000))
	f.Add(randomBytes(13000), randomBytes(12000))                         // a transform of length 3*2^12
	for _, l := range []int{9000, 9001, 9002, 9003, 9004, 20003, 25001} { // every way to square
		sq := randomBytes(l)
		f.Add(sq, sq)
	}
	nines := bytes.Repeat([]byte{0xff}, 3000) // many carries
	f.Add(nines, nines)
	nines = bytes.Repeat([]byte{0xff}, 3004) // many carries, in 4 blocks
	f.Add(nines, nines)
	nines = bytes.Repeat([]byte{0xff}, 3001) // many carries, wrapped around
	f.Add(nines, nines)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x, y := new(big.Int).SetBytes(a), new(big.Int).SetBytes(b)
		want := new(big.Int).Mul(x, y).Text(10)
		defer func(k kernelSet) { kernels = k }(kernels)
		for _, k := range supportedKernels() {
			kernels = k
			tk := newTask(context.Background(), nil)
			nx, ny := natFromBig(x), natFromBig(y)
			var z nat
			switch {
			case x.Cmp(y) == 0:
				z = squareInArena(tk, nx, len(a)%5)
			case len(a)%2 == 1:
				z = mulInArena(tk, nx, ny)
			default:
				z = tk.mul(nx, ny)
			}
			got := natText(t, z)
			tk.close()
			if got != want {
				t.Fatalf("%s * %s with the %s kernels: got %s, want %s", abbrev(x.Text(10)), abbrev(y.Text(10)), k, abbrev(got), abbrev(want))
			}
		}
	})
}

// squareInArena returns x^2 computed by task.square in an arena: in one transform for way 0,
// in the shortest transform that holds x for way 1 (wrapping around), in way blocks otherwise.
func squareInArena(tk *task, x nat, way int) nat {
	l := len(x)
	if l == 0 {
		return nil
	}
	blocks := max(way, 1)
	h := (l + blocks - 1) / blocks
	sp := squarePlan{l: l, blocks: blocks, h: h, n: transformSize(2 * h)}
	if way == 1 {
		if n := transformSize(l); n < 2*l-1 {
			sp.n, sp.side = n, transformSize(2*(2*l-1-n)-1)
		}
	}
	s := stepPlan{square: sp, lout: 2 * l}
	s.outWord = s.lout/2 + 1
	mem := make([]uint64, max(sp.n+sp.side, s.outWord+(blocks+1)*sp.n))
	copy(limbsOf(mem), x)
	lz := tk.square(mem, l, s)
	return append(nat(nil), limbsOf(mem)[:lz]...)
}

// mulInArena returns x*y computed by task.mulBy in an arena, in pieces when x is the longer.
func mulInArena(tk *task, x, y nat) nat {
	if len(x) == 0 || len(y) == 0 {
		return nil
	}
	s := stepPlan{lg: len(y), lout: len(x) + len(y)}
	s.outWord = s.lout/2 + 1
	if len(x) >= len(y) && len(y) > schoolMax {
		s.piece, _ = bestPiece(len(x), len(y), 0)
	}
	mem := make([]uint64, s.outWord+2*s.piece)
	copy(limbsOf(mem), x)
	lz := tk.mulBy(mem, len(x), y, s)
	return append(nat(nil), limbsOf(mem)[:lz]...)
}

// natFromBig converts x >= 0 to a nat.
func natFromBig(x *big.Int) nat {
	s := x.Text(10)
	if s == "0" {
		return nil
	}
	var z nat
	for end := len(s); end > 0; end -= limbDigits {
		var d uint32
		for _, c := range s[max(end-limbDigits, 0):end] {
			d = d*10 + uint32(c-'0')
		}
		z = append(z, d)
	}
	return z.norm()
}

// natText returns the decimal text of x, "0" for zero.
func natText(t *testing.T, x nat) string {
	t.Helper()
	if len(x) == 0 {
		return "0"
	}
	var sb strings.Builder
	tk := newTask(context.Background(), nil)
	defer tk.close()
	if _, err := tk.writeDecimal(&sb, x, 0); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func abbrev(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:20] + "…" + s[len(s)-20:]
}

func TestProductMatchesMathBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	randomFactors := func(lo, hi uint32) []uint32 {
		ps := make([]uint32, 3000)
		for i := range ps {
			ps[i] = lo + rng.Uint32N(hi-lo)
		}
		return ps
	}
	tests := []struct {
		name    string
		factors []uint32
	}{
		{"small factors", randomFactors(2, 100)},
		{"factors near 2^20", randomFactors(1<<20, 1<<21)},
		{"factors from 2^20 to 2^24", randomFactors(1<<20, 1<<24)},
		{"factors near 2^31", randomFactors(1<<31, 1<<32-1)},
		{"factors whose product wraps at 2^64", []uint32{1 << 20, 1 << 20, 1 << 24, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := newTask(context.Background(), nil)
			defer tk.close()
			want := big.NewInt(1)
			for _, p := range tt.factors {
				want.Mul(want, big.NewInt(int64(p)))
			}
			if got := natText(t, tk.product(tt.factors)); got != want.Text(10) {
				t.Fatalf("product differs from math/big: %s, want %s", abbrev(got), abbrev(want.Text(10)))
			}
		})
	}
}

func TestSieveFindsThePrimes(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 4, 63, 64, 127, 128, 129, 100_000} {
		var got []uint64
		newSieve(n).each(func(p uint64) { got = append(got, p) })
		var want []uint64
		for p := uint64(2); p <= n; p++ {
			if big.NewInt(int64(p)).ProbablyPrime(0) {
				want = append(want, p)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("n=%d: %d primes, want %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("n=%d: prime %d is %d, want %d", n, i, got[i], want[i])
			}
		}
	}
}
