package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/integration/load"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// TestLoadUnderFaults: 10,000 POSTs over 2,000 distinct n from 64 clients, each followed by
// GET ?wait, while a calculator is killed (SIGKILL) and started again and the api is stopped
// (SIGTERM) and started again. No answer is a 5xx other than the documented 503 (with
// Retry-After, asked again), the api stops cleanly under load (no panic), every n ends done
// once (claimed again only if the killed calculator held it) with the right digits, and
// nothing is lost.
func TestLoadUnderFaults(t *testing.T) {
	bins := build(t)
	cluster := startNATSCluster(t, 1)
	pgURL := dbtest.PostgresURL(t)
	env := []string{
		"NATS_URL=" + cluster.urls(), "DATABASE_URL=" + pgURL, "STORAGE=local",
		"LOCAL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "objects"), "MAX_NUMBER=5000",
		"RATE_LIMIT_RPS=0", "LOG_LEVEL=warn", "RECONCILE_INTERVAL=2s", "RECONCILE_PENDING_AFTER=10s",
	}
	startCalc := func(name, addr string) *process {
		p := start(t, name, bins.calculator, append(slices.Clone(env), "HTTP_ADDR="+addr))
		waitReady(t, p, "http://"+addr)
		return p
	}
	apiAddr := freeAddr(t)
	startAPI := func() *process {
		p := start(t, "api", bins.api, append(slices.Clone(env), "HTTP_ADDR="+apiAddr))
		waitReady(t, p, "http://"+apiAddr)
		return p
	}
	calcAddrs := []string{freeAddr(t), freeAddr(t)}
	calc1 := startCalc("calculator-1", calcAddrs[0])
	calc2 := startCalc("calculator-2", calcAddrs[1])
	api := startAPI()

	// 2,000 distinct n from 1 to 5,000, each asked for five times, in a shuffled order.
	r := rand.New(rand.NewPCG(7, 11))
	distinct := r.Perm(5000)[:2000]
	var numbers []int64
	for range 5 {
		for _, n := range distinct {
			numbers = append(numbers, int64(n+1))
		}
	}
	r.Shuffle(len(numbers), func(i, j int) { numbers[i], numbers[j] = numbers[j], numbers[i] })
	want := references(numbersOf(distinct))

	var posted atomic.Int64
	results := make(chan load.Result, 1)
	go func() {
		results <- load.Run(context.Background(), []string{"http://" + apiAddr}, numbers,
			load.Options{Clients: 64, Wait: true, Retry: true, Timeout: 3 * time.Minute, Posted: &posted})
	}()
	at := func(fraction float64) {
		for posted.Load() < int64(fraction*float64(len(numbers))) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	at(0.2)
	if err := calc1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-calc1.exited
	t.Logf("killed calculator-1 at %d POSTs", posted.Load())
	at(0.35)
	calc1 = startCalc("calculator-1", calcAddrs[0])
	t.Logf("calculator-1 back at %d POSTs", posted.Load())
	at(0.5)
	api.stop(t) // SIGTERM under load: exits 0 in time, no panic
	t.Logf("api stopped at %d POSTs", posted.Load())
	api = startAPI()
	t.Logf("api back at %d POSTs", posted.Load())

	res := <-results
	t.Logf("%d POSTs, %d numbers done by GET ?wait, in %v; statuses %v; %d unanswered and %d 503s asked again; POST p50 %v p99 %v",
		len(numbers), res.Done, res.Elapsed.Round(time.Millisecond), res.Statuses, res.Refused, res.Unavailable,
		res.POST.P(0.5), res.POST.P(0.99))
	if len(res.Errors) > 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	for status, count := range res.Statuses {
		if status != http.StatusOK && status != http.StatusAccepted {
			t.Errorf("%d answers %d", count, status)
		}
	}
	if res.Done != len(numbers) {
		t.Errorf("%d of %d POSTs were followed by a done GET", res.Done, len(numbers))
	}

	db := database.NewFactorials(openDB(t, pgURL))
	eventually(t, 60*time.Second, "every number done", func() error {
		recs, err := db.GetMany(t.Context(), numbersOf(distinct))
		if err != nil {
			return err
		}
		done := 0
		for _, rec := range recs {
			if rec.Status == database.StatusDone {
				done++
			}
		}
		if done != len(distinct) {
			return fmt.Errorf("%d of %d done", done, len(distinct))
		}
		return nil
	})
	recs, err := db.GetMany(t.Context(), numbersOf(distinct))
	if err != nil {
		t.Fatal(err)
	}
	// Each computed once: only what calculator-1 held when it was killed (at most a batch per
	// small slot and one large computation) was claimed a second time, and nothing a third.
	const mostHeld = 2*128 + 1 // CALCULATOR_SMALL_CONCURRENCY × CALCULATOR_BATCH_SIZE + CALCULATOR_CONCURRENCY
	retaken := 0
	for _, rec := range recs {
		if w := want[rec.Number]; rec.Checksum != w.sha256 || rec.Size != int64(len(w.text)) {
			t.Errorf("%d!: checksum %s, %d digits; want %s and %d", rec.Number, rec.Checksum, rec.Size, w.sha256, len(w.text))
		}
		switch {
		case rec.Attempts == 2:
			retaken++
		case rec.Attempts != 1:
			t.Errorf("%d! was claimed %d times", rec.Number, rec.Attempts)
		}
	}
	t.Logf("%d numbers taken over from the killed calculator", retaken)
	if retaken > mostHeld {
		t.Errorf("%d numbers were claimed twice; the killed calculator held at most %d", retaken, mostHeld)
	}
	api.stop(t)
	calc1.stop(t)
	calc2.stop(t)
}

func numbersOf(ns []int) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = int64(n + 1)
	}
	return out
}
