package factorial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/factorial-service/factorial/platform/testenv"
)

func TestWriteMatchesVectors(t *testing.T) {
	for _, v := range testenv.Vectors(t) {
		n := uint64(v.N)
		t.Run(strconv.FormatUint(n, 10), func(t *testing.T) {
			if testing.Short() && n >= 1_000_000 {
				t.Skip("skipping n >= 1e6 in -short mode")
			}
			t.Parallel()
			h := sha256.New()
			pw := &prefixWriter{w: h}
			digits, err := Write(context.Background(), n, pw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if digits != v.Digits {
				t.Errorf("digits = %d, want %d", digits, v.Digits)
			}
			if got := string(pw.prefix); got != v.Prefix {
				t.Errorf("first digits = %q, want %q", got, v.Prefix)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != v.SHA256 {
				t.Errorf("sha256 = %s, want %s", got, v.SHA256)
			}
		})
	}
}

// prefixWriter passes writes on to w and keeps the first 20 bytes.
type prefixWriter struct {
	w      interface{ Write([]byte) (int, error) }
	prefix []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if k := 20 - len(p.prefix); k > 0 {
		p.prefix = append(p.prefix, b[:min(k, len(b))]...)
	}
	return p.w.Write(b)
}
