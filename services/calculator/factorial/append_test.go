package factorial

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/factorial-service/factorial/platform/testenv"
)

func TestAppendTextMatchesVectors(t *testing.T) {
	for _, v := range testenv.Vectors(t) {
		n := uint64(v.N)
		t.Run(strconv.FormatUint(n, 10), func(t *testing.T) {
			if testing.Short() && n >= 1_000_000 {
				t.Skip("skipping n >= 1e6 in -short mode")
			}
			prefix := []byte("x=")
			got := AppendText(prefix, n)
			if string(got[:2]) != "x=" {
				t.Fatalf("dst's bytes were overwritten: %q", got[:2])
			}
			text := got[2:]
			if int64(len(text)) != v.Digits {
				t.Errorf("digits = %d, want %d", len(text), v.Digits)
			}
			if p := string(text[:min(20, len(text))]); p != v.Prefix {
				t.Errorf("first digits = %q, want %q", p, v.Prefix)
			}
			sum := sha256.Sum256(text)
			if got := hex.EncodeToString(sum[:]); got != v.SHA256 {
				t.Errorf("sha256 = %s, want %s", got, v.SHA256)
			}
		})
	}
}

func TestAppendTextMatchesMathBigAndWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ns := []uint64{0, 1, 2, 3, 12, 13, 25, 26, 100, 1024, 20000}
	for range 60 {
		ns = append(ns, rng.Uint64N(30001))
	}
	for _, n := range ns {
		want := new(big.Int).MulRange(1, int64(n)).Text(10)
		if got := string(AppendText(nil, n)); got != want {
			t.Fatalf("n=%d: AppendText differs from math/big (got %d digits, want %d)", n, len(got), len(want))
		}
		var buf bytes.Buffer
		if _, err := Write(context.Background(), n, &buf, nil); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Fatalf("n=%d: Write differs from math/big", n)
		}
	}
}

func TestAppendTextPanicsBeyondMaxN(t *testing.T) {
	defer func() {
		if r := recover(); r != ErrTooLarge {
			t.Fatalf("recovered %v, want ErrTooLarge", r)
		}
	}()
	AppendText(nil, MaxN+1)
}
