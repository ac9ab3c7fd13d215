package standalone_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkGetDone measures GET of a finished result (a cache hit) over real HTTP.
func BenchmarkGetDone(b *testing.B) {
	s := start(b, testConfig(b, b.TempDir()), nil)
	s.post(1000)
	s.waitDone(1000)
	url := s.base + "/api/v1/factorial/1000"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkPostNew measures the whole path for small new numbers: POST, record, publish,
// compute, store, verify, record, announce, and GET with ?wait until done.
func BenchmarkPostNew(b *testing.B) {
	s := start(b, testConfig(b, b.TempDir()), nil)
	b.ResetTimer()
	for i := range b.N {
		n := int64(i%100000 + 1)
		resp, err := http.Post(s.base+"/api/v1/factorial", "application/json", strings.NewReader(fmt.Sprintf(`{"number": %d}`, n)))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		resp, err = http.Get(fmt.Sprintf("%s/api/v1/factorial/%d?wait=30s", s.base, n))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
