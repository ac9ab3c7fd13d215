package factorial

import (
	"bytes"
	"context"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestWriteMatchesMathBig(t *testing.T) {
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
// The seeds reach long multiplication, whole and piecewise transforms, and squaring.
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
	f.Add(randomBytes(5001), randomBytes(200)) // odd length: in place
	f.Add(randomBytes(4000), randomBytes(150))
	f.Add(randomBytes(20000), randomBytes(19000))
	f.Add(randomBytes(13000), randomBytes(12000)) // a transform of length 3*2^12
	sq := randomBytes(9000)
	f.Add(sq, sq)
	nines := bytes.Repeat([]byte{0xff}, 3000) // many carries
	f.Add(nines, nines)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x, y := new(big.Int).SetBytes(a), new(big.Int).SetBytes(b)
		tk := newTask(context.Background(), nil)
		defer tk.close()
		nx, ny := natFromBig(x), natFromBig(y)
		var z nat
		switch {
		case x.Cmp(y) == 0:
			z = tk.sqr(nx, nil, 0)
		case len(a)%2 == 1:
			// Exercise the in-place product too: x's storage, with room, is given up.
			z = tk.mulInPlace(append(make(nat, 0, len(nx)+len(ny)), nx...), ny, nil)
		default:
			z = tk.mul(nx, ny, nil)
		}
		want := new(big.Int).Mul(x, y).Text(10)
		if got := natText(t, z); got != want {
			t.Fatalf("%s * %s: got %s, want %s", abbrev(x.Text(10)), abbrev(y.Text(10)), abbrev(got), abbrev(want))
		}
	})
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
	if _, err := tk.writeDecimal(&sb, x); err != nil {
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
