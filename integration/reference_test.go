package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/factorial-service/factorial/platform/testenv"
)

// The numbers asked for: how many, and the largest (the services' MAX_NUMBER too).
const (
	numberCount = 300
	maxNumber   = 30000
	smallMax    = 3000  // most numbers are at most this
	rowMax      = 65536 // RESULT_ROW_MAX_BYTES's default: smaller results live in their row
)

// edgeNumbers are always asked for: the reference vectors up to 10000 and a few large ones.
// 17,389! is the last below rowMax, 20,000 the largest of the small lane (stored as an
// object), 25,000 and maxNumber are of the large lane.
var edgeNumbers = []int64{0, 1, 2, 3, 4, 5, 10, 20, 21, 25, 100, 170, 171, 1000, 9999, 10000, 12345, 15000, 17389, 17390, 20000, 20001, 25000, maxNumber}

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

// vectors returns the GMP reference vectors up to limit, or nil when the repository was cloned
// without shared/ beside it (the results are then checked against math/big only).
func vectors(t *testing.T, limit int64) []testenv.Vector {
	t.Helper()
	all, err := testenv.ReadVectors()
	if errors.Is(err, os.ErrNotExist) {
		t.Logf("%v: checking against math/big only", err)
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []testenv.Vector
	for _, v := range all {
		if v.N <= limit {
			out = append(out, v)
		}
	}
	return out
}
