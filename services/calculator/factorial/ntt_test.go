package factorial

import (
	"context"
	"math/rand/v2"
	"testing"
)

func TestTransformRoundTrip(t *testing.T) {
	tk := newTask(context.Background(), nil)
	defer tk.close()
	for _, n := range []int{2, 4, 8, 64, 1 << leafLog, 1 << (leafLog + 1), 1 << (parallelLog + 1), 1 << (tableLog + 2), 3 << leafLog, 3 << (parallelLog + 1), 3 << (tableLog + 1)} {
		a := make([]uint64, n)
		for i := range a {
			a[i] = rand.Uint64N(modulus)
		}
		b := append([]uint64(nil), a...)
		tk.forward(b)
		tk.inverse(b)
		inv := inverseOf(n)
		for i := range b {
			if got := canonical(mulMod(b[i], inv)); got != a[i] {
				t.Fatalf("n=%d: element %d = %d after round trip, want %d", n, i, got, a[i])
			}
		}
	}
}

func TestModularArithmetic(t *testing.T) {
	w := rootOfUnity(32, false)
	if canonical(powMod(w, 1<<31)) != modulus-1 {
		t.Fatal("root of unity of order 2^32 is not primitive")
	}
	if canonical(mulMod(w, rootOfUnity(32, true))) != 1 {
		t.Fatal("inverse root is wrong")
	}
	if got := canonical(mulMod(modulus-1, modulus-1)); got != 1 {
		t.Fatalf("(-1)*(-1) = %d", got)
	}
	if got := canonical(addMod(modulus-1, 5)); got != 4 {
		t.Fatalf("-1+5 = %d", got)
	}
	if got := canonical(subMod(3, 5)); got != modulus-2 {
		t.Fatalf("3-5 = %d", got)
	}
	// Non-canonical operands near 2^64 still give congruent results.
	const m, r = 1<<64 - 1, epsilon - 1 // m ≡ r
	if got := canonical(addMod(m, m)); got != 2*r {
		t.Fatalf("m+m = %d", got)
	}
	if got := canonical(subMod(0, m)); got != modulus-r {
		t.Fatalf("0-m = %d", got)
	}
	if got := canonical(mulMod(m, m)); got != r*r {
		t.Fatalf("m*m = %d", got)
	}
}
