package factorial

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vectorsPath is the reference table, relative to this package's directory: the repository is
// cloned with shared/ beside it.
const vectorsPath = "../../../../shared/reference/factorial-vectors.tsv"

// vector is one row of the reference table.
type vector struct {
	n      uint64
	digits int64
	sha256 string
	prefix string
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open(vectorsPath)
	if os.IsNotExist(err) {
		t.Skipf("reference vectors not found at %s (clone shared/ beside the repository)", vectorsPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 4 {
			t.Fatalf("bad vector line %q", line)
		}
		n, err1 := strconv.ParseUint(fs[0], 10, 64)
		d, err2 := strconv.ParseInt(fs[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad vector line %q", line)
		}
		vs = append(vs, vector{n: n, digits: d, sha256: fs[2], prefix: fs[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestWriteMatchesVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(strconv.FormatUint(v.n, 10), func(t *testing.T) {
			if testing.Short() && v.n >= 1_000_000 {
				t.Skip("skipping n >= 1e6 in -short mode")
			}
			t.Parallel()
			h := sha256.New()
			pw := &prefixWriter{w: h}
			digits, err := Write(context.Background(), v.n, pw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if digits != v.digits {
				t.Errorf("digits = %d, want %d", digits, v.digits)
			}
			if got := string(pw.prefix); got != v.prefix {
				t.Errorf("first digits = %q, want %q", got, v.prefix)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != v.sha256 {
				t.Errorf("sha256 = %s, want %s", got, v.sha256)
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
