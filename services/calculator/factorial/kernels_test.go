package factorial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/factorial-service/factorial/platform/testenv"
)

// withKernels runs f with each set of kernels the CPU runs (AVX-512, AVX2, pure Go), as a
// subtest named for it.
func withKernels(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func(k kernelSet) { kernels = k }(kernels)
	for _, k := range supportedKernels() {
		t.Run(k.String(), func(t *testing.T) {
			kernels = k
			f(t)
		})
	}
}

// assemblyKernels returns the sets of assembly kernels the CPU runs, or skips the test.
func assemblyKernels(t *testing.T) []kernelSet {
	ks := supportedKernels()
	ks = ks[:len(ks)-1] // all but pureGo
	if len(ks) == 0 {
		t.Skip("no AVX2 or AVX-512 on this CPU (or -tags purego): only the pure-Go kernels run")
	}
	return ks
}

// randomWords returns n words: random, and the edge values (0, p-1, p, 2^64-1, ...) that
// lazily reduced arithmetic must accept.
func randomWords(rng *rand.Rand, n int) []uint64 {
	edges := []uint64{0, 1, epsilon, epsilon + 1, modulus - 1, modulus, modulus + 1, 1<<64 - 1, 1<<64 - 2, 1 << 63}
	a := make([]uint64, n)
	for i := range a {
		if rng.IntN(4) == 0 {
			a[i] = edges[rng.IntN(len(edges))]
		} else {
			a[i] = rng.Uint64()
		}
	}
	return a
}

// sameResidues fails unless a and b hold the same residues.
func sameResidues(t *testing.T, what string, a, b []uint64) {
	t.Helper()
	for i := range a {
		if canonical(a[i]) != canonical(b[i]) {
			t.Fatalf("%s: element %d is %d, want %d", what, i, canonical(a[i]), canonical(b[i]))
		}
	}
}

// TestKernelsMatchGo compares each assembly kernel of each set the CPU runs with its pure-Go
// counterpart, on lengths that leave a remainder to the pure-Go loops.
func TestKernelsMatchGo(t *testing.T) {
	for _, k := range assemblyKernels(t) {
		t.Run(k.String(), func(t *testing.T) { kernelsMatchGo(t, k) })
	}
}

func kernelsMatchGo(t *testing.T, k kernelSet) {
	defer func(saved kernelSet) { kernels = saved }(kernels)
	rng := rand.New(rand.NewPCG(21, 22))
	const n = 64 + 8 + 4 + 2
	run := func(asm bool, f func()) {
		kernels = pureGo
		if asm {
			kernels = k
		}
		f()
	}
	for range 200 {
		x, y, w := randomWords(rng, n), randomWords(rng, n), randomWords(rng, n)
		ax, ay := slices.Clone(x), slices.Clone(y)
		run(true, func() { difKernel(ax, ay, w) })
		run(false, func() { difKernel(x, y, w) })
		sameResidues(t, "dif x", ax, x)
		sameResidues(t, "dif y", ay, y)

		ax, ay = slices.Clone(x), slices.Clone(y)
		run(true, func() { ditKernel(ax, ay, w) })
		run(false, func() { ditKernel(x, y, w) })
		sameResidues(t, "dit x", ax, x)
		sameResidues(t, "dit y", ay, y)

		for _, logS := range []int{3, 4} {
			coarse, fine := randomWords(rng, 20), randomWords(rng, 1<<logS)
			ax, ay = slices.Clone(x), slices.Clone(y)
			run(true, func() { difFineKernel(ax, ay, coarse, fine, logS, 16, 64) })
			run(false, func() { difFineKernel(x, y, coarse, fine, logS, 16, 64) })
			sameResidues(t, "difFine x", ax, x)
			sameResidues(t, "difFine y", ay, y)
			ax, ay = slices.Clone(x), slices.Clone(y)
			run(true, func() { ditFineKernel(ax, ay, coarse, fine, logS, 16, 64) })
			run(false, func() { ditFineKernel(x, y, coarse, fine, logS, 16, 64) })
			sameResidues(t, "ditFine x", ax, x)
			sameResidues(t, "ditFine y", ay, y)
		}

		for _, l := range []int{64, 72} { // 72: blocks of 8, not of 16
			a := randomWords(rng, l)
			b := slices.Clone(a)
			run(true, func() { leafTail(a, 8) })
			run(false, func() { leafTail(b, 8) })
			sameResidues(t, "tail", a, b)
			run(true, func() { leafHead(a, 8) })
			run(false, func() { leafHead(b, 8) })
			sameResidues(t, "head", a, b)
		}

		x2 := randomWords(rng, n)
		bx, by, bz := slices.Clone(x), slices.Clone(y), slices.Clone(x2)
		base, omega := rng.Uint64(), rng.Uint64()
		run(true, func() { fwd3Kernel(bx, by, bz, w, base, omega) })
		run(false, func() { fwd3Kernel(x, y, x2, w, base, omega) })
		sameResidues(t, "fwd3 x0", bx, x)
		sameResidues(t, "fwd3 x1", by, y)
		sameResidues(t, "fwd3 x2", bz, x2)
		run(true, func() { inv3Kernel(bx, by, bz, w, base, omega) })
		run(false, func() { inv3Kernel(x, y, x2, w, base, omega) })
		sameResidues(t, "inv3 x0", bx, x)
		sameResidues(t, "inv3 x1", by, y)
		sameResidues(t, "inv3 x2", bz, x2)

		for _, scale := range []uint64{1, rng.Uint64()} {
			d1, d2 := make([]uint64, n), make([]uint64, n)
			run(true, func() { mulKernel(d1, x, y, scale) })
			run(false, func() { mulKernel(d2, x, y, scale) })
			sameResidues(t, "mul", d1, d2)
		}
	}
}

// TestKernelsLeaveMemoryAloneForNothing calls each assembly kernel with no elements.
func TestKernelsLeaveMemoryAloneForNothing(t *testing.T) {
	ks := assemblyKernels(t)
	a := make([]uint64, 64)
	for i := range a {
		a[i] = uint64(i + 1)
	}
	b := slices.Clone(a)
	p := &a[0]
	if slices.Contains(ks, avx512) {
		difAVX512(p, p, p, 0)
		ditAVX512(p, p, &a[63], 0)
		difFineAVX512(p, p, p, p, 0, 3)
		ditFineAVX512(p, p, &a[63], p, 0, 3)
		tailAVX512(p, 0, p)
		headAVX512(p, 0, p)
		mulAVX512(p, p, p, 0, 5)
		fwd3AVX512(p, p, p, p, 0, 5, 5)
		inv3AVX512(p, p, p, p, 0, 5, 5)
	}
	if slices.Contains(ks, avx2) {
		difAVX2(p, p, p, 0)
		ditAVX2(p, p, &a[63], 0)
		difFineAVX2(p, p, p, p, 0, 3)
		ditFineAVX2(p, p, &a[63], p, 0, 3)
		tailAVX2(p, 0, p)
		headAVX2(p, 0, p)
		mulAVX2(p, p, p, 0, 5)
		fwd3AVX2(p, p, p, p, 0, 5, 5)
		inv3AVX2(p, p, p, p, 0, 5, 5)
	}
	if !slices.Equal(a, b) {
		t.Fatal("a kernel given no elements wrote to memory")
	}
}

// TestTransformsWithEveryKernel checks products through whole transforms, of every length
// class, with each set of kernels the CPU runs.
func TestTransformsWithEveryKernel(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(23, 24))
		tk := newTask(context.Background(), nil)
		defer tk.close()
		for _, l := range []int{60, 1000, 5000, 70_000, 300_000} {
			x, y := make(nat, l), make(nat, l/3+1)
			for i := range x {
				x[i] = uint32(rng.IntN(limbBase))
			}
			for i := range y {
				y[i] = uint32(rng.IntN(limbBase))
			}
			x[l-1], y[len(y)-1] = 1, 1
			checkProduct(t, tk, x, y)
		}
		// And whole factorials by the large engine, against the reference vectors.
		for _, v := range testenv.Vectors(t) {
			if uint64(v.N) <= smallMaxN || v.N > 100_000 {
				continue
			}
			h := sha256.New()
			if _, err := Write(context.Background(), uint64(v.N), h, nil); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != v.SHA256 {
				t.Fatalf("n=%d: sha256 = %s, want %s", v.N, got, v.SHA256)
			}
		}
	})
}

// residue returns x modulo the prime q = 2^61-1.
func residue(x nat) uint64 {
	const q = 1<<61 - 1
	var r uint64
	for i := len(x) - 1; i >= 0; i-- {
		hi, lo := bits.Mul64(r, limbBase)
		_, r = bits.Div64(hi, lo, q)
		r = (r + uint64(x[i])) % q
	}
	return r
}

// checkProduct checks x*y, and x*x in one transform, wrapped and in blocks, by residues.
func checkProduct(t *testing.T, tk *task, x, y nat) {
	t.Helper()
	const q = 1<<61 - 1
	mulq := func(a, b uint64) uint64 {
		hi, lo := bits.Mul64(a, b)
		_, r := bits.Div64(hi, lo, q)
		return r
	}
	rx, ry := residue(x), residue(y)
	if got, want := residue(tk.mul(x, y)), mulq(rx, ry); got != want {
		t.Fatalf("%d x %d limbs: product is %d mod q, want %d", len(x), len(y), got, want)
	}
	if got, want := residue(mulInArena(tk, slices.Clone(x), y)), mulq(rx, ry); got != want {
		t.Fatalf("%d x %d limbs in pieces: product is %d mod q, want %d", len(x), len(y), got, want)
	}
	for way := range 4 {
		if got, want := residue(squareInArena(tk, x, way)), mulq(rx, rx); got != want {
			t.Fatalf("%d limbs squared (way %d): %d mod q, want %d", len(x), way, got, want)
		}
	}
}
