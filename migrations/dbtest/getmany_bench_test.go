package dbtest_test

import (
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// BenchmarkGetManySQLite reads 64 records of 10,000 in one GetMany, as the API's batched
// reads do under a crowd: the cost of the statement (prepared once, or parsed for each
// call) beside the rows'.
func BenchmarkGetManySQLite(b *testing.B) {
	records := database.NewFactorials(dbtest.SQLite(b))
	var reqs []database.NewRequest
	for n := range int64(10_000) {
		reqs = append(reqs, database.NewRequest{Number: n})
	}
	for len(reqs) > 0 {
		k := min(len(reqs), 500)
		if _, err := records.RequestBatch(b.Context(), reqs[:k], time.Now()); err != nil {
			b.Fatal(err)
		}
		reqs = reqs[k:]
	}
	ns := make([]int64, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range ns {
			ns[j] = int64((i*64 + j*157) % 10_000)
		}
		recs, err := records.GetMany(b.Context(), ns)
		if err != nil || len(recs) != len(ns) {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}
