package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/testenv"
)

// Limits of the distributed run.
const (
	computeTimeout = 45 * time.Second // for every number to be done
	eventTimeout   = 10 * time.Second // for the API to act on an event
	httpWorkers    = 16               // requests in flight at once
	cacheMaxBytes  = 65536            // the API's CACHE_MAX_BYTES default: larger results are cached without digits
)

// TestDistributedProfile builds the binaries once and runs every check of the distributed
// profile on them (see the package doc).
func TestDistributedProfile(t *testing.T) {
	bins := build(t)
	t.Run("a missing or bad setting stops each binary with one line naming it", func(t *testing.T) {
		testSettingErrors(t, bins)
	})
	t.Run("migrate up and status on a fresh database", func(t *testing.T) { testMigrate(t, bins) })
	t.Run("api and calculator refuse an unmigrated database", func(t *testing.T) { testUnmigrated(t, bins) })
	t.Run("the api started before any calculator accepts requests and says what is missing", func(t *testing.T) {
		testAPIBeforeStream(t, bins)
	})
	t.Run("api and two calculators compute every number once, right, stored and cached", func(t *testing.T) {
		testProfile(t, bins)
	})
}

// stack is the running distributed profile.
type stack struct {
	api         *process
	calculators []*process
	apiClient   *client
	calcClients []*client
	db          *bun.DB
	cache       *redisCache
	store       *s3Server
	js          jetstream.JetStream
}

// startStack migrates a new database with bin/migrate (as the compose job does) and starts
// two calculators, then the API, on it, Redis, NATS and an S3 server.
func startStack(t *testing.T, bins binaries) *stack {
	t.Helper()
	store := newS3Server(t) // first: a missing bin/versitygw skips before anything is made
	pgURL := dbtest.EmptyPostgresURL(t)
	if code, stdout, stderr := runToExit(t, "migrate up", bins.migrate, []string{"DATABASE_URL=" + pgURL}, "up"); code != 0 {
		t.Fatalf("migrate up: exit status %d\n%s%s", code, stdout, stderr)
	}
	s := &stack{cache: newRedisCache(t), store: store}
	natsURL, js := ownNATS(t) // before the processes: its clean-up runs after theirs
	s.js = js

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	db, err := database.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s.db = db

	common := append(s.store.env(),
		"NATS_URL="+natsURL,
		"DATABASE_URL="+pgURL,
		"MAX_NUMBER="+strconv.Itoa(maxNumber),
		"LOG_LEVEL=info",
	)
	// Calculators first: they provision the stream that the API follows.
	for i := range 2 {
		addr := freeAddr(t)
		p := start(t, fmt.Sprintf("calculator-%d", i+1), bins.calculator, append(slices.Clone(common), "HTTP_ADDR="+addr))
		base := "http://" + addr
		waitReady(t, p, base)
		s.calculators = append(s.calculators, p)
		s.calcClients = append(s.calcClients, newClient(base))
	}
	addr := freeAddr(t)
	s.api = start(t, "api", bins.api, append(slices.Clone(common),
		"HTTP_ADDR="+addr,
		"RATE_LIMIT_RPS=0",    // the suite asks as many clients at once, from one address
		"LOCAL_CACHE_BYTES=0", // the suite checks the Redis layer; the in-process one has tests of its own
		"REDIS_URL="+s.cache.url,
		"CACHE_PREFIX="+s.cache.prefix,
	))
	waitReady(t, s.api, "http://"+addr)
	s.apiClient = newClient("http://" + addr)
	s.waitAPIFollows(t)
	return s
}

// waitAPIFollows waits until the API's own consumer of the stream is pulling: /readyz says
// the connections are up, not that the event router has subscribed, and an event published
// before it has would never reach this API (it follows new events only).
func (s *stack) waitAPIFollows(t *testing.T) {
	t.Helper()
	eventually(t, eventTimeout, "the API follows the stream", func() error {
		pulling, err := pullingConsumers(t.Context(), s.js)
		if err != nil {
			return err
		}
		for _, name := range pulling {
			if name != events.LaneSmall.Durable() && name != events.LaneLarge.Durable() {
				return nil
			}
		}
		return fmt.Errorf("consumers pulling: %v", pulling)
	})
}

// stop sends SIGTERM to every process, API first, and checks that each exits 0 in time.
func (s *stack) stop(t *testing.T) {
	t.Helper()
	// Connections our client opened but never used would hold the API's http.Server.Shutdown
	// for up to 5 s (net/http counts a new connection as active that long).
	for _, c := range append([]*client{s.apiClient}, s.calcClients...) {
		c.http.CloseIdleConnections()
	}
	s.api.stop(t)
	var wg sync.WaitGroup
	for _, p := range s.calculators {
		wg.Go(func() { p.stop(t) })
	}
	wg.Wait()
}

func testProfile(t *testing.T, bins binaries) {
	began := time.Now()
	nums := chooseNumbers()
	want := references(nums)
	vecs := vectors(t, 10000)
	for _, v := range vecs {
		w, ok := want[v.N]
		if !ok {
			t.Fatalf("vector %d is not among the numbers asked for", v.N)
		}
		if int64(len(w.text)) != v.Digits || w.sha256 != v.SHA256 || !strings.HasPrefix(w.text, v.Prefix) {
			t.Fatalf("math/big disagrees with the GMP vector of %d!: the reference itself is wrong", v.N)
		}
	}

	s := startStack(t, bins)
	t.Logf("stack ready in %v", time.Since(began).Round(time.Millisecond))
	c := s.apiClient

	// Ask for every number. Some are watched at once with ?wait, the rest are not read
	// until they are done, so their cache entries can only come from the computed event.
	watched := func(n int64) bool { return n%4 == 0 || n >= 9999 }
	var (
		mu       sync.Mutex
		waitGets = map[int64]response{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, httpWorkers)
	)
	asked := time.Now()
	for _, n := range nums {
		wg.Go(func() {
			sem <- struct{}{}
			r, err := c.post(n)
			<-sem
			if err != nil {
				t.Error(err)
				return
			}
			if r.status != http.StatusAccepted {
				t.Errorf("POST %d: %d %s, want 202", n, r.status, r.body)
				return
			}
			if loc, want := r.header.Get("Location"), fmt.Sprintf("/api/v1/factorial/%d", n); loc != want {
				t.Errorf("POST %d: Location %q, want %q", n, loc, want)
			}
			if !watched(n) {
				return
			}
			r, err = c.get(fmt.Sprintf("/api/v1/factorial/%d?wait=30s", n), "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			waitGets[n] = r
			mu.Unlock()
		})
	}
	s.waitAllDone(t, len(nums))
	t.Logf("%d numbers done %v after the first POST", len(nums), time.Since(asked).Round(time.Millisecond))
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	t.Run("a GET with ?wait returns the result once it is done", func(t *testing.T) {
		for n, r := range waitGets {
			checkJSONResult(t, n, r, want[n])
		}
		if len(waitGets) == 0 {
			t.Fatal("no number was watched")
		}
	})
	t.Run("the computed event fills the cache", func(t *testing.T) { s.checkCacheFilled(t, nums, want) })
	t.Run("every result is right in JSON, text and metadata", func(t *testing.T) { s.checkResults(t, nums, want, vecs) })
	t.Run("PostgreSQL has a done row with its checksum for each number", func(t *testing.T) { s.checkRows(t, nums, want) })
	t.Run("the bucket holds each result", func(t *testing.T) { s.checkObjects(t, nums, want) })
	t.Run("each number was delivered once and computed once, by both calculators", func(t *testing.T) {
		s.checkWorkShared(t, len(nums))
	})
	t.Run("events refresh and invalidate the cache", func(t *testing.T) { s.checkCacheFollowsEvents(t, 1000, want[1000]) })
	t.Run("S3 results stream with Range and a presigned download_url", func(t *testing.T) { s.checkDownloads(t, maxNumber, want[maxNumber]) })
	t.Run("asking again answers 200 with the result", func(t *testing.T) { s.checkIdempotent(t, []int64{0, 171, 10000, maxNumber}, want) })
	t.Run("bad input is refused and reaches neither the database nor the queue", func(t *testing.T) {
		s.checkBadInput(t, nums)
	})
	t.Run("the healthcheck subcommand of each binary says whether it is ready", func(t *testing.T) {
		s.checkHealthcheck(t, bins, 0)
	})
	t.Run("every process stops cleanly on SIGTERM", func(t *testing.T) {
		s.stop(t)
		s.checkHealthcheck(t, bins, 1)
		for _, p := range append([]*process{s.api}, s.calculators...) {
			for _, line := range strings.Split(p.stderr.String(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					t.Errorf("%s logged an error: %s", p.name, line)
				}
			}
		}
	})
	t.Logf("distributed run took %v", time.Since(began).Round(time.Millisecond))
}

// checkHealthcheck runs `api healthcheck` and `calculator healthcheck` (the compose and
// Dockerfile health checks) against each running process and checks their exit status.
func (s *stack) checkHealthcheck(t *testing.T, bins binaries, want int) {
	t.Helper()
	check := func(name, bin string, c *client) {
		addr := strings.TrimPrefix(c.base, "http://")
		code, stdout, stderr := runToExit(t, name+" healthcheck", bin, []string{"HTTP_ADDR=" + addr}, "healthcheck")
		if code != want {
			t.Errorf("%s healthcheck on %s: exit %d, want %d\n%s%s", name, addr, code, want, stdout, stderr)
		}
	}
	check("api", bins.api, s.apiClient)
	for i, c := range s.calcClients {
		check(fmt.Sprintf("calculator-%d", i+1), bins.calculator, c)
	}
}

// waitAllDone waits until the database says every number is done, failing early on a
// failed one.
func (s *stack) waitAllDone(t *testing.T, count int) {
	t.Helper()
	eventually(t, computeTimeout, fmt.Sprintf("all %d numbers done", count), func() error {
		var rows []struct {
			Status string `bun:"status"`
			N      int    `bun:"n"`
		}
		if err := s.db.NewRaw(`SELECT status, count(*) AS n FROM factorials GROUP BY status`).Scan(t.Context(), &rows); err != nil {
			return err
		}
		by := map[string]int{}
		for _, r := range rows {
			by[r.Status] = r.N
		}
		if by["failed"] > 0 {
			var failed []struct {
				Number int64  `bun:"number"`
				Error  string `bun:"error"`
			}
			_ = s.db.NewRaw(`SELECT number, error FROM factorials WHERE status = 'failed' ORDER BY number LIMIT 5`).Scan(t.Context(), &failed)
			t.Fatalf("%d numbers failed, first ones: %+v", by["failed"], failed)
		}
		if by["done"] != count {
			return fmt.Errorf("records by status: %v", by)
		}
		return nil
	})
}

// checkJSONResult checks a JSON answer of GET /api/v1/factorial/{n}.
func checkJSONResult(t *testing.T, n int64, r response, w expected) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Errorf("GET %d: %d %.200s, want 200", n, r.status, r.body)
		return
	}
	got, err := decode[factorialJSON](r)
	if err != nil {
		t.Errorf("GET %d: %v", n, err)
		return
	}
	switch {
	case got.Number != n || got.Status != "done":
		t.Errorf("GET %d: number %d, status %q, want %d done", n, got.Number, got.Status, n)
	case got.FactorialResult == nil:
		t.Errorf("GET %d: no factorial_result", n)
	case *got.FactorialResult != w.text:
		t.Errorf("GET %d: factorial_result of %d digits differs from math/big's %d", n, len(*got.FactorialResult), len(w.text))
	case got.Digits != int64(len(w.text)) || got.Size != int64(len(w.text)) || got.Checksum != w.sha256:
		t.Errorf("GET %d: digits %d, size %d, checksum %s; want %d, %d, %s", n, got.Digits, got.Size, got.Checksum, len(w.text), len(w.text), w.sha256)
	}
}

// cacheEntry is the API's cached value of a done result.
type cacheEntry struct {
	Record struct {
		Number   int64  `json:"number"`
		Status   string `json:"status"`
		Checksum string `json:"checksum"`
		Size     int64  `json:"size"`
		Digits   int64  `json:"digits"`
	} `json:"record"`
	Text *string `json:"text"`
}

// cached reads n's cache entry; redis.Nil when there is none.
func (s *stack) cached(ctx context.Context, n int64) (cacheEntry, error) {
	var e cacheEntry
	data, err := s.cache.client.Get(ctx, s.cache.resultKey(n)).Bytes()
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("cache entry of %d is not JSON: %w", n, err)
	}
	return e, nil
}

// checkEntry checks that a cache entry holds n's done record, and its digits when they are
// small enough to be cached.
func checkEntry(n int64, e cacheEntry, w expected) error {
	r := e.Record
	switch {
	case r.Number != n || r.Status != "done" || r.Checksum != w.sha256 || r.Size != int64(len(w.text)) || r.Digits != int64(len(w.text)):
		return fmt.Errorf("cache entry of %d holds record %+v, want done, checksum %s, %d digits", n, r, w.sha256, len(w.text))
	case len(w.text) <= cacheMaxBytes && (e.Text == nil || *e.Text != w.text):
		return fmt.Errorf("cache entry of %d lacks its digits or holds wrong ones", n)
	case len(w.text) > cacheMaxBytes && e.Text != nil:
		return fmt.Errorf("cache entry of %d holds %d digits, above CACHE_MAX_BYTES", n, len(*e.Text))
	}
	return nil
}

func (s *stack) checkCacheFilled(t *testing.T, nums []int64, want map[int64]expected) {
	for _, n := range nums {
		eventually(t, eventTimeout, fmt.Sprintf("cache entry of %d", n), func() error {
			e, err := s.cached(t.Context(), n)
			if err != nil {
				return err
			}
			return checkEntry(n, e, want[n])
		})
	}
}

// forEach runs check for every number, httpWorkers at a time.
func forEach(nums []int64, check func(n int64)) {
	var wg sync.WaitGroup
	work := make(chan int64)
	for range httpWorkers {
		wg.Go(func() {
			for n := range work {
				check(n)
			}
		})
	}
	for _, n := range nums {
		work <- n
	}
	close(work)
	wg.Wait()
}

func (s *stack) checkResults(t *testing.T, nums []int64, want map[int64]expected, vecs []testenv.Vector) {
	c := s.apiClient
	var mu sync.Mutex
	texts := map[int64]string{} // SHA-256 of the text served, by number
	forEach(nums, func(n int64) {
		w := want[n]
		r, err := c.get(fmt.Sprintf("/api/v1/factorial/%d", n), "")
		if err != nil {
			t.Error(err)
			return
		}
		checkJSONResult(t, n, r, w)

		r, err = c.get(fmt.Sprintf("/api/v1/factorial/%d", n), "text/plain")
		if err != nil {
			t.Error(err)
			return
		}
		sum := sha256.Sum256(r.body)
		got := hex.EncodeToString(sum[:])
		switch {
		case r.status != http.StatusOK:
			t.Errorf("GET %d as text: %d %.200s", n, r.status, r.body)
		case !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"):
			t.Errorf("GET %d as text: Content-Type %q", n, r.header.Get("Content-Type"))
		case len(r.body) != len(w.text) || got != w.sha256:
			t.Errorf("GET %d as text: %d bytes, SHA-256 %s; want %d digits, %s", n, len(r.body), got, len(w.text), w.sha256)
		case r.header.Get("ETag") != strconv.Quote(w.sha256):
			t.Errorf("GET %d as text: ETag %q, want the quoted checksum", n, r.header.Get("ETag"))
		}
		mu.Lock()
		texts[n] = got + " " + string(r.body[:min(20, len(r.body))])
		mu.Unlock()

		r, err = c.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", n), "")
		if err != nil {
			t.Error(err)
			return
		}
		md, err := decode[metadataJSON](r)
		switch {
		case r.status != http.StatusOK || err != nil:
			t.Errorf("GET metadata %d: %d %v", n, r.status, err)
		case md.Number != n || md.Status != "done" || md.Checksum != w.sha256 || md.Size != int64(len(w.text)) || md.Digits != int64(len(w.text)):
			t.Errorf("GET metadata %d: %+v, want done with checksum %s and %d digits", n, md, w.sha256, len(w.text))
		case len(w.text) <= rowMax && (md.Bucket != "" || md.S3Key != ""):
			t.Errorf("GET metadata %d: bucket %q, s3_key %q; want none (the digits are in the row)", n, md.Bucket, md.S3Key)
		case len(w.text) > rowMax && (md.Bucket != s.store.bucket || md.S3Key == ""):
			t.Errorf("GET metadata %d: bucket %q, s3_key %q; want bucket %q and a key", n, md.Bucket, md.S3Key, s.store.bucket)
		}
	})
	for _, v := range vecs {
		if got, want := texts[v.N], v.SHA256+" "+v.Prefix; got != want {
			t.Errorf("%d! served as text: SHA-256 and first digits %q, GMP vector %q", v.N, got, want)
		}
	}
	if len(vecs) > 0 {
		t.Logf("%d results matched the GMP reference vectors", len(vecs))
	}
}

// row is the part of a factorials row the suite checks.
type row struct {
	Number   int64  `bun:"number"`
	Status   string `bun:"status"`
	Attempts int    `bun:"attempts"`
	Key      string `bun:"key"`
	Bucket   string `bun:"bucket"`
	Checksum string `bun:"checksum"`
	Size     int64  `bun:"size"`
	Digits   int64  `bun:"digits"`
	Worker   string `bun:"worker"`
	Text     string `bun:"result_text"`
}

func (s *stack) rows(t *testing.T) []row {
	t.Helper()
	var rows []row
	err := s.db.NewRaw(`SELECT number, status, attempts, "key", bucket, checksum, size, digits, worker, result_text
		FROM factorials ORDER BY number`).Scan(t.Context(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (s *stack) checkRows(t *testing.T, nums []int64, want map[int64]expected) {
	rows := s.rows(t)
	got := make([]int64, len(rows))
	for i, r := range rows {
		got[i] = r.Number
		w := want[r.Number]
		switch {
		case r.Status != "done":
			t.Errorf("row %d: status %s", r.Number, r.Status)
		case r.Checksum != w.sha256 || r.Size != int64(len(w.text)) || r.Digits != int64(len(w.text)):
			t.Errorf("row %d: checksum %s, size %d, digits %d; want %s and %d", r.Number, r.Checksum, r.Size, r.Digits, w.sha256, len(w.text))
		case r.Size <= rowMax && (r.Bucket != "" || r.Key != "" || r.Text != w.text):
			t.Errorf("row %d: bucket %q, key %q, %d digits in the row; want the digits in the row and no object", r.Number, r.Bucket, r.Key, len(r.Text))
		case r.Size > rowMax && (r.Bucket != s.store.bucket || r.Key == "" || r.Text != ""):
			t.Errorf("row %d: bucket %q, key %q, %d digits in the row; want bucket %q and a key", r.Number, r.Bucket, r.Key, len(r.Text), s.store.bucket)
		case r.Attempts != 1:
			t.Errorf("row %d: %d attempts, want 1", r.Number, r.Attempts)
		}
	}
	if !slices.Equal(got, nums) {
		t.Errorf("rows for %d numbers, want exactly the %d asked for", len(got), len(nums))
	}
}

func (s *stack) checkObjects(t *testing.T, nums []int64, want map[int64]expected) {
	objects := s.store.objects(t)
	rows := s.rows(t)
	stored := 0
	for _, r := range rows {
		if r.Key == "" {
			continue // in the row
		}
		stored++
		size, ok := objects[r.Key]
		switch {
		case !ok:
			t.Errorf("%d: object %s not in bucket %s", r.Number, r.Key, s.store.bucket)
		case size != int64(len(want[r.Number].text)):
			t.Errorf("%d: object %s has %d bytes, want %d", r.Number, r.Key, size, len(want[r.Number].text))
		}
	}
	if len(objects) != stored || stored == 0 {
		t.Errorf("bucket holds %d objects, want one per result larger than %d bytes (%d)", len(objects), rowMax, stored)
	}
}

// checkWorkShared reads each calculator's metrics, the database and the work consumer:
// every number delivered once and computed once, and both calculators computed some.
func (s *stack) checkWorkShared(t *testing.T, count int) {
	deliveries := func(m map[string]float64, outcome string) float64 {
		var sum float64
		for _, lane := range events.Lanes {
			sum += m[fmt.Sprintf(`factorial_calculator_deliveries_total{lane=%q,outcome=%q}`, lane, outcome)]
		}
		return sum
	}
	total := 0.0
	for i, c := range s.calcClients {
		m := c.scrape(t)
		done := deliveries(m, "done")
		t.Logf("calculator-%d computed %v numbers", i+1, done)
		if done <= 0 {
			t.Errorf("calculator-%d computed nothing", i+1)
		}
		total += done
		for _, outcome := range []string{"retry", "unavailable", "failed"} {
			if v := deliveries(m, outcome); v != 0 {
				t.Errorf("calculator-%d: %v deliveries with outcome %s, want none", i+1, v, outcome)
			}
		}
		for _, kind := range []string{"subject", "payload", "mismatch", "out_of_range"} {
			if v := m[fmt.Sprintf(`factorial_calculator_dead_letters_total{kind=%q}`, kind)]; v != 0 {
				t.Errorf("calculator-%d: %v dead letters of kind %s, want none", i+1, v, kind)
			}
		}
	}
	if total != float64(count) {
		t.Errorf("the calculators computed %v numbers, want each of the %d once", total, count)
	}

	workers := map[string]int{} // by process: a record's worker names a claim, <process>/<count>
	for _, r := range s.rows(t) {
		process, _, _ := strings.Cut(r.Worker, "/")
		workers[process]++
	}
	if len(workers) != 2 {
		t.Errorf("rows were finished by workers %v, want the two calculators", workers)
	}

	var delivered uint64
	for _, info := range s.laneConsumers(t) {
		delivered += info.Delivered.Consumer
		if info.NumRedelivered != 0 || info.NumAckPending != 0 || info.NumPending != 0 {
			t.Errorf("consumer %s: %d redelivered, %d unacked, %d pending; want none",
				info.Name, info.NumRedelivered, info.NumAckPending, info.NumPending)
		}
	}
	if delivered != uint64(count) {
		t.Errorf("the lane consumers delivered %d requests, want each of the %d once", delivered, count)
	}

	r, err := s.apiClient.get("/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "factorial_http_requests_total") {
		t.Errorf("API /metrics: %d, without factorial_http_requests_total", r.status)
	}
}

// checkCacheFollowsEvents shows that GET reads through the Redis cache, that
// factorial.computed replaces a stale entry with the record and the stored digits, and that
// factorial.failed drops the entry. The events are published as another service would.
func (s *stack) checkCacheFollowsEvents(t *testing.T, n int64, w expected) {
	ctx := t.Context()
	key := s.cache.resultKey(n)
	path := fmt.Sprintf("/api/v1/factorial/%d", n)

	// A stale entry, planted by hand, is what GET serves: the API reads through the cache.
	data, err := s.cache.client.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("cache entry of %d: %v", n, err)
	}
	var entry map[string]json.RawMessage
	if err := json.Unmarshal(data, &entry); err != nil {
		t.Fatal(err)
	}
	entry["text"] = json.RawMessage(`"42"`)
	stale, _ := json.Marshal(entry)
	if err := s.cache.client.Set(ctx, key, stale, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	r, err := s.apiClient.get(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := decode[factorialJSON](r); got.FactorialResult == nil || *got.FactorialResult != "42" {
		t.Fatalf("GET %d after planting a stale cache entry did not serve it: %.100s", n, r.body)
	}

	// factorial.computed refreshes the entry: n's digits live in its row, so the event carries
	// them, as the calculator's does, and the API needs no read.
	rec, err := database.NewFactorials(s.db).Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Key != "" || rec.Text != w.text {
		t.Fatalf("%d! is not kept in its row", n)
	}
	computedAt := rec.UpdatedAt
	if rec.ComputedAt != nil {
		computedAt = *rec.ComputedAt
	}
	s.publish(t, events.SubjectComputed, events.Computed{
		Number: n, Status: events.StatusDone, Checksum: rec.Checksum, Size: rec.Size, Digits: rec.Digits,
		ComputeMS: rec.ComputeMS, ComputedAt: computedAt, Text: rec.Text, CreatedAt: &rec.CreatedAt,
	})
	eventually(t, eventTimeout, "factorial.computed refreshes the stale entry", func() error {
		e, err := s.cached(ctx, n)
		if err != nil {
			return err
		}
		return checkEntry(n, e, w)
	})
	r, err = s.apiClient.get(path, "")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONResult(t, n, r, w)

	// factorial.failed drops the entry; the next GET reads the record and the store and
	// fills it again.
	s.publish(t, events.SubjectFailed, events.Failed{Number: n, Error: "integration test: invalidate", Attempts: 1, FailedAt: time.Now().UTC()})
	eventually(t, eventTimeout, "factorial.failed drops the entry", func() error {
		_, err := s.cached(ctx, n)
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err == nil {
			return errNotYet
		}
		return err
	})
	r, err = s.apiClient.get(path, "")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONResult(t, n, r, w)
	e, err := s.cached(ctx, n)
	if err != nil {
		t.Fatalf("cache entry of %d after a GET on a miss: %v", n, err)
	}
	if err := checkEntry(n, e, w); err != nil {
		t.Error(err)
	}
}

// publish puts an event on the stream, as another service would.
func (s *stack) publish(t *testing.T, subject string, v any) {
	t.Helper()
	payload, err := events.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(t.Context(), subject, payload); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func (s *stack) checkIdempotent(t *testing.T, nums []int64, want map[int64]expected) {
	for _, n := range nums {
		r, err := s.apiClient.post(n)
		if err != nil {
			t.Fatal(err)
		}
		checkJSONResult(t, n, r, want[n])
	}
}

func (s *stack) checkBadInput(t *testing.T, nums []int64) {
	notAsked := int64(maxNumber - 1)
	for slices.Contains(nums, notAsked) {
		notAsked--
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{"above MAX_NUMBER", http.MethodPost, "/api/v1/factorial", fmt.Sprintf(`{"number": %d}`, maxNumber+1), http.StatusUnprocessableEntity},
		{"negative", http.MethodPost, "/api/v1/factorial", `{"number": -1}`, http.StatusUnprocessableEntity},
		{"not a number", http.MethodPost, "/api/v1/factorial", `{"number": "ten"}`, http.StatusBadRequest},
		{"never requested", http.MethodGet, fmt.Sprintf("/api/v1/factorial/%d", notAsked), "", http.StatusNotFound},
	} {
		r, err := s.apiClient.do(tc.method, tc.path, "", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != tc.status || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s %.200s, want %d problem+json", tc.name, r.status, r.header.Get("Content-Type"), r.body, tc.status)
		}
	}
	if rows := s.rows(t); len(rows) != len(nums) {
		t.Errorf("%d rows after bad requests, want %d", len(rows), len(nums))
	}
	for _, info := range s.laneConsumers(t) {
		if info.NumPending != 0 {
			t.Errorf("consumer %s: %d pending after bad requests, want 0", info.Name, info.NumPending)
		}
	}
	var st *jetstream.StreamInfo
	stream, err := s.js.Stream(t.Context(), events.Stream)
	if err == nil {
		st, err = stream.Info(t.Context(), jetstream.WithSubjectFilter(events.SubjectRequested+".>"))
	}
	if err != nil {
		t.Fatal(err)
	}
	var requests uint64
	for subject, count := range st.State.Subjects {
		requests += count
		if count != 1 {
			t.Errorf("%d messages on %s, want one", count, subject)
		}
	}
	if requests != uint64(len(nums)) {
		t.Errorf("%d factorial.requested messages on the stream, want one per number (%d)", requests, len(nums))
	}
}

// laneConsumers is the info of both lane consumers.
func (s *stack) laneConsumers(t *testing.T) []*jetstream.ConsumerInfo {
	t.Helper()
	var infos []*jetstream.ConsumerInfo
	for _, lane := range events.Lanes {
		c, err := s.js.Consumer(t.Context(), events.Stream, lane.Durable())
		if err != nil {
			t.Fatalf("consumer %s: %v", lane.Durable(), err)
		}
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
	}
	return infos
}

// checkDownloads reads n's digits from S3 in the two ways a client can besides JSON: a Range
// request through the API, streamed from the bucket, and the presigned URL of the metadata,
// straight from the S3 server.
func (s *stack) checkDownloads(t *testing.T, n int64, w expected) {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/factorial/%d?format=text", s.apiClient.base, n), nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := s.apiClient.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(part) != w.text[100:200] {
		t.Errorf("Range 100-199 of %d!: %d %q, want 206 %q", n, resp.StatusCode, part, w.text[100:200])
	}

	r, err := s.apiClient.get(fmt.Sprintf("/api/v1/factorial/metadata/%d", n), "")
	if err != nil {
		t.Fatal(err)
	}
	md, err := decode[metadataJSON](r)
	if err != nil || md.DownloadURL == "" {
		t.Fatalf("metadata of %d has no download_url: %v %.300s", n, err, r.body)
	}
	// Signed for the host the users reach (S3_PUBLIC_ENDPOINT), which the store accepts.
	if !strings.HasPrefix(md.DownloadURL, s.store.public+"/") {
		t.Errorf("download_url %q is not on S3_PUBLIC_ENDPOINT %s", md.DownloadURL, s.store.public)
	}
	resp, err = http.Get(md.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != w.text {
		t.Errorf("download_url of %d!: %d, %d bytes; want 200 and the %d digits", n, resp.StatusCode, len(body), len(w.text))
	}
}
