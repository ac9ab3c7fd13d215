package integration

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The numbers asked for: how many, and the largest (the services' MAX_NUMBER too).
const (
	numberCount = 300
	maxNumber   = 20000
	smallMax    = 3000 // most numbers are at most this
)

// edgeNumbers are always asked for: the reference vectors up to 10000 and a few large ones.
var edgeNumbers = []int64{0, 1, 2, 3, 4, 5, 10, 20, 21, 25, 100, 170, 171, 1000, 9999, 10000, 12345, 15000, 17389, maxNumber}

// chooseNumbers returns numberCount distinct numbers, ascending: the edge numbers and
// pseudo-random small ones (the same every run).
func chooseNumbers() []int64 {
	seen := map[int64]bool{}
	nums := make([]int64, 0, numberCount)
	add := func(n int64) {
		if !seen[n] {
			seen[n] = true
			nums = append(nums, n)
		}
	}
	for _, n := range edgeNumbers {
		add(n)
	}
	r := rand.New(rand.NewPCG(6, 2026))
	for len(nums) < numberCount {
		add(6 + r.Int64N(smallMax-5))
	}
	slices.Sort(nums)
	return nums
}

// expected is what the service must answer for n!.
type expected struct {
	text   string // decimal digits
	sha256 string // hex SHA-256 of text
}

// references computes n! with math/big for every number, in parallel.
func references(nums []int64) map[int64]expected {
	out := make(map[int64]expected, len(nums))
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int64)
	for range 4 {
		wg.Go(func() {
			for n := range work {
				f := new(big.Int).MulRange(1, n) // 1 for n = 0
				text := f.String()
				sum := sha256.Sum256([]byte(text))
				mu.Lock()
				out[n] = expected{text: text, sha256: hex.EncodeToString(sum[:])}
				mu.Unlock()
			}
		})
	}
	for _, n := range nums {
		work <- n
	}
	close(work)
	wg.Wait()
	return out
}

// vector is one line of the GMP reference vectors.
type vector struct {
	n      int64
	digits int
	sha256 string
	first  string // first 20 digits
}

// vectors reads ../shared/reference/factorial-vectors.tsv beside the repository, keeping the
// numbers up to limit; it returns nil when the file is absent (a clone without shared/).
func vectors(t *testing.T, limit int64) []vector {
	t.Helper()
	path := filepath.Join(repoRoot(t), "..", "shared", "reference", "factorial-vectors.tsv")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		t.Logf("no reference vectors at %s: checking against math/big only", path)
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			t.Fatalf("%s: line %q has %d fields, want 4", path, line, len(fields))
		}
		n, err1 := strconv.ParseInt(fields[0], 10, 64)
		digits, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: line %q: bad number or digit count", path, line)
		}
		if n <= limit {
			out = append(out, vector{n: n, digits: digits, sha256: fields[2], first: fields[3]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no vectors up to %d", path, limit)
	}
	return out
}
