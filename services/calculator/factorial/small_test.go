package factorial

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDivBaseMatchesDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := [][2]uint64{{0, 0}, {0, dBase - 1}, {0, dBase}, {dBase - 1, ^uint64(0)}, {dBase - 1, 0}, {1, 0}}
	for range 100_000 {
		cases = append(cases, [2]uint64{rng.Uint64N(dBase), rng.Uint64()})
	}
	for _, c := range cases {
		q, r := divBase(c[0], c[1])
		wq, wr := bits.Div64(c[0], c[1], dBase)
		if q != wq || r != wr {
			t.Fatalf("divBase(%d, %d) = %d, %d; want %d, %d", c[0], c[1], q, r, wq, wr)
		}
	}
}

// dnatFromBig converts x >= 0 to a dnat.
func dnatFromBig(x *big.Int) dnat {
	var z dnat
	b, q, r := big.NewInt(dBase), new(big.Int).Set(x), new(big.Int)
	for q.Sign() > 0 {
		q.QuoRem(q, b, r)
		z = append(z, r.Uint64())
	}
	return z
}

// bigFromDnat converts x to a big.Int; it panics on a limb that is not below the base.
func bigFromDnat(x dnat) *big.Int {
	z, b := new(big.Int), big.NewInt(dBase)
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] >= dBase {
			panic("limb out of range")
		}
		z.Mul(z, b).Add(z, new(big.Int).SetUint64(x[i]))
	}
	return z
}

// checkDmul checks dmul, dsqr and dmulSchool (where it applies) on x and y against math/big.
func checkDmul(t *testing.T, x, y dnat) {
	t.Helper()
	want := new(big.Int).Mul(bigFromDnat(x), bigFromDnat(y))
	z := make(dnat, len(x)+len(y))
	dmul(z, x, y, make([]uint64, dmulScratch(len(x), len(y))))
	if got := bigFromDnat(z); got.Cmp(want) != 0 {
		t.Fatalf("dmul of %d and %d limbs differs from math/big", len(x), len(y))
	}
	if min(len(x), len(y)) <= schoolMax18 {
		dmulSchool(z, x, y)
		if got := bigFromDnat(z); got.Cmp(want) != 0 {
			t.Fatalf("dmulSchool of %d and %d limbs differs from math/big", len(x), len(y))
		}
	}
	want.Mul(bigFromDnat(x), bigFromDnat(x))
	z = make(dnat, 2*len(x))
	dsqr(z, x, make([]uint64, dmulScratch(len(x), len(x))))
	if got := bigFromDnat(z); got.Cmp(want) != 0 {
		t.Fatalf("dsqr of %d limbs differs from math/big", len(x))
	}
}

// TestSmallArithmeticAtThresholds checks products and squares on both sides of the Karatsuba
// thresholds and at the longest long multiplication, with random limbs and with the largest
// limbs (the most carries and the largest column sums).
func TestSmallArithmeticAtThresholds(t *testing.T) {
	nines := func(l int) dnat {
		x := make(dnat, l)
		for i := range x {
			x[i] = dBase - 1
		}
		return x
	}
	lengths := []int{1, 2, 3, karatsubaMin - 1, karatsubaMin, karatsubaMin + 1, sqrKaratsubaMin - 1,
		sqrKaratsubaMin, sqrKaratsubaMin + 1, schoolMax18, schoolMax18 + 1, 2*sqrKaratsubaMin + 1, 1000}
	for i, l := range lengths {
		checkDmul(t, randomDnat(l, uint64(i)), randomDnat(l, uint64(i)+100))
		checkDmul(t, nines(l), nines(l))
		checkDmul(t, randomDnat(3*l+7, uint64(i)), randomDnat(l, uint64(i)+200)) // unbalanced
	}
	x := nines(40)
	want := new(big.Int).Mul(bigFromDnat(x), new(big.Int).SetUint64(dBase-1))
	if got := bigFromDnat(dmulWord(append(dnat(nil), x...), dBase-1)); got.Cmp(want) != 0 {
		t.Fatal("dmulWord of the largest limbs differs from math/big")
	}
}

// FuzzSmallArithmetic checks dmul, dsqr and dmulWord against math/big on arbitrary numbers.
func FuzzSmallArithmetic(f *testing.F) {
	rng := rand.New(rand.NewPCG(13, 14))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	f.Add([]byte{1}, []byte{1}, uint64(1))
	f.Add(randomBytes(800), randomBytes(790), uint64(999_999_999_999_999_999))
	f.Add(randomBytes(3000), randomBytes(700), uint64(12345))
	f.Add(bytes.Repeat([]byte{0xff}, 1300), bytes.Repeat([]byte{0xff}, 1300), uint64(1<<59))
	f.Fuzz(func(t *testing.T, a, b []byte, w uint64) {
		x, y := dnatFromBig(new(big.Int).SetBytes(a)), dnatFromBig(new(big.Int).SetBytes(b))
		if len(x) == 0 || len(y) == 0 {
			return
		}
		checkDmul(t, x, y)
		w %= dBase
		want := new(big.Int).Mul(bigFromDnat(x), new(big.Int).SetUint64(w))
		if got := bigFromDnat(dmulWord(append(dnat(nil), x...), w)); got.Cmp(want) != 0 {
			t.Fatalf("dmulWord by %d differs from math/big", w)
		}
	})
}

// TestSmallEngineAtThresholds checks n! on both sides of each threshold of the small engine
// against math/big: the word-sized table, from 20! directly, numbers against primes, the large
// engine. Around smallMaxN both engines are also compared with each other.
func TestSmallEngineAtThresholds(t *testing.T) {
	ns := []uint64{0, 1, 2, 3, 19, 20, 21, 22, 23, 24, 25, 26, directMaxN - 1, directMaxN, directMaxN + 1, 100, productMaxN - 1, productMaxN, productMaxN + 1}
	for _, n := range ns {
		want := new(big.Int).MulRange(1, int64(n)).Text(10)
		if got := string(AppendText(nil, n)); got != want {
			t.Fatalf("n=%d: AppendText differs from math/big", n)
		}
	}
	for _, n := range []uint64{smallMaxN - 1, smallMaxN, smallMaxN + 1} {
		small := appendSmall(nil, n)
		x, zeros, release, _ := newSerialTask().factorial(n)
		large := appendDecimal(nil, x)
		release()
		large = append(large, strings.Repeat("0", int(zeros))...)
		if !bytes.Equal(small, large) {
			t.Fatalf("n=%d: the small and large engines differ", n)
		}
		var buf bytes.Buffer
		if _, err := Write(context.Background(), n, &buf, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), small) {
			t.Fatalf("n=%d: Write differs from AppendText", n)
		}
	}
	if testing.Short() {
		return
	}
	n := smallMaxN + 1 // and against math/big once, beyond the reference vectors
	want := new(big.Int).MulRange(1, int64(n)).Text(10)
	if got := string(AppendText(nil, n)); got != want {
		t.Fatalf("n=%d: AppendText differs from math/big", n)
	}
}

// TestSmallAdditionCarries checks the additions and subtraction of Karatsuba's method where a
// sum is exactly the base and where a carry or borrow runs through every limb.
func TestSmallAdditionCarries(t *testing.T) {
	nines := dnat{dBase - 1, dBase - 1, dBase - 1}
	one, carried := dnat{1}, dnat{0, 0, 0, 1}
	z := make(dnat, 4)
	dadd(z, nines, one)
	if bigFromDnat(z).Cmp(bigFromDnat(carried)) != 0 {
		t.Fatalf("dadd(999..., 1) = %v", z)
	}
	z = append(dnat(nil), carried...)
	dsubFrom(z, one)
	if bigFromDnat(z).Cmp(bigFromDnat(nines)) != 0 {
		t.Fatalf("dsubFrom(1000..., 1) = %v", z)
	}
	z = append(dnat(nil), nines...)
	z = append(z, 0)
	daddAt(z, one, 0)
	if bigFromDnat(z).Cmp(bigFromDnat(carried)) != 0 {
		t.Fatalf("daddAt(999..., 1) = %v", z)
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for range 1000 {
		x, y := randomDnat(1+rng.IntN(20), rng.Uint64()), randomDnat(1+rng.IntN(20), rng.Uint64())
		z := make(dnat, max(len(x), len(y))+1)
		dadd(z, x, y)
		sum := new(big.Int).Add(bigFromDnat(x), bigFromDnat(y))
		if bigFromDnat(z).Cmp(sum) != 0 {
			t.Fatal("dadd differs from math/big")
		}
		dsubFrom(z, y)
		if bigFromDnat(z).Cmp(bigFromDnat(x)) != 0 {
			t.Fatal("dsubFrom differs from math/big")
		}
	}
}

func TestPutLimbWritesEighteenDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	cases := []uint64{0, 1, 9, 10, 99, 100, 9999, 10000, 99_999_999, 100_000_000, dBase - 1, dBase / 2}
	for range 100_000 {
		cases = append(cases, rng.Uint64N(dBase))
	}
	for _, d := range cases {
		var b [dDigits]byte
		putLimb(&b, d)
		want := fmt.Sprintf("%018d", d)
		if string(b[:]) != want {
			t.Fatalf("putLimb(%d) = %q, want %q", d, b[:], want)
		}
	}
}

// TestProductTreeAtThreshold checks products of treeSmallWords-1, treeSmallWords and
// treeSmallWords+1 words, the last split between the small engine and the transforms.
func TestProductTreeAtThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	tk := newSerialTask()
	for _, k := range []int{treeSmallWords - 1, treeSmallWords, treeSmallWords + 1, 2*treeSmallWords + 1} {
		ws := make([]uint64, k)
		want := big.NewInt(1)
		for i := range ws {
			ws[i] = 1 + rng.Uint64N(dBase-1)
			want.Mul(want, new(big.Int).SetUint64(ws[i]))
		}
		if got := natText(t, tk.productOfWords(ws)); got != want.Text(10) {
			t.Fatalf("product of %d words differs from math/big", k)
		}
	}
}

// TestWriteAtParallelThreshold checks that Write on one core and on every core, on both sides
// of parallelMinN, gives the text that AppendText gives.
func TestWriteAtParallelThreshold(t *testing.T) {
	if testing.Short() {
		t.Skip("a few hundred milliseconds")
	}
	for _, n := range []uint64{parallelMinN - 1, parallelMinN} {
		want := sha256.Sum256(AppendText(nil, n))
		h := sha256.New()
		if _, err := Write(context.Background(), n, h, nil); err != nil {
			t.Fatal(err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("n=%d: Write differs from AppendText", n)
		}
	}
}

// TestWriteCoresGivesWritesText checks that Write held to one core (WriteCores, what the large
// lane uses to leave the small lane a core) gives the text that every core gives.
func TestWriteCoresGivesWritesText(t *testing.T) {
	if testing.Short() {
		t.Skip("a few hundred milliseconds")
	}
	n := 2 * parallelMinN
	sum := func(cores int) []byte {
		h := sha256.New()
		if _, err := WriteCores(context.Background(), n, h, nil, cores); err != nil {
			t.Fatal(err)
		}
		return h.Sum(nil)
	}
	if one, all := sum(1), sum(0); !bytes.Equal(one, all) {
		t.Fatalf("n=%d: WriteCores on one core differs from every core", n)
	}
}
