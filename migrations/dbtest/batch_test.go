package dbtest_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// The batch operations, on a database of their own per backend (Unannounced lists the table).
func TestFactorialsBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		f := dbtest.Factorials(db)
		t.Run("RequestBatch", func(t *testing.T) { testRequestBatch(t, f) })
		t.Run("ClaimBatch", func(t *testing.T) { testClaimBatch(t, f) })
		t.Run("CompleteBatch", func(t *testing.T) { testCompleteBatch(t, f) })
		t.Run("CompleteBatchManyRows", func(t *testing.T) { testCompleteBatchManyRows(t, f) })
		t.Run("Announced", func(t *testing.T) { testAnnounced(t, f) })
		t.Run("HeartbeatClaim", func(t *testing.T) { testHeartbeatClaim(t, f) })
	})
}

func numbers(recs []database.Record) []int64 {
	var ns []int64
	for _, r := range recs {
		ns = append(ns, r.Number)
	}
	slices.Sort(ns)
	return ns
}

func testRequestBatch(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	done, failed, pending, fresh, odd := newNumber(), newNumber(), newNumber(), newNumber()+1_000_000, newNumber()
	// A client id with every character an SQL literal or an array literal quotes.
	const oddClient = `key:a"b\\c'd,{e} NULL`
	state(t, f, done, database.StatusDone)
	state(t, f, failed, database.StatusFailed)
	state(t, f, pending, database.StatusPending)

	res, err := f.RequestBatch(ctx, []database.NewRequest{
		{Number: fresh, Client: "key:alice"}, {Number: done, Client: "key:bob"}, {Number: failed, Client: "10.0.0.1"},
		{Number: pending}, {Number: fresh, Client: "key:carol"}, {Number: odd, Client: oddClient},
	}, at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		n       int64
		status  database.Status
		created bool
		client  string
	}{
		{fresh, database.StatusPending, true, "key:alice"},
		{done, database.StatusDone, false, ""},
		{failed, database.StatusPending, true, "10.0.0.1"},
		{pending, database.StatusPending, false, ""},
		{odd, database.StatusPending, true, oddClient},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results, want one per distinct number (%d)", len(res), len(want))
	}
	for i, w := range want {
		r := res[i]
		if r.Record.Number != w.n || r.Record.Status != w.status || r.Created != w.created || r.Record.Client != w.client {
			t.Errorf("result %d: %d %s created=%v client=%q, want %d %s created=%v client=%q",
				i, r.Record.Number, r.Record.Status, r.Created, r.Record.Client, w.n, w.status, w.created, w.client)
		}
	}
	if got := get(t, f, fresh); got.CostUS != events.Cost(fresh).Microseconds() || got.CostUS <= 0 {
		t.Errorf("cost of %d: %d µs, want events.Cost", fresh, got.CostUS)
	}
	if got := get(t, f, failed); got.Attempts != 0 || got.Error != "" || !got.RequestedAt.Equal(at(time.Hour)) {
		t.Errorf("the failed number was not reset for a retry: %+v", got)
	}
	if res, err := f.RequestBatch(ctx, nil, at(0)); err != nil || len(res) != 0 {
		t.Errorf("an empty batch: %v %v", res, err)
	}
}

func testClaimBatch(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	pending, stale, live, done, failed, missing := newNumber(), newNumber(), newNumber(), newNumber(), newNumber(), newNumber()+2_000_000
	for n, s := range map[int64]database.Status{pending: database.StatusPending, stale: database.StatusComputing,
		live: database.StatusComputing, done: database.StatusDone, failed: database.StatusFailed} {
		state(t, f, n, s)
	}
	// live's worker beat just now; stale's last beat is the claim at t0+1s.
	must(t, f.Heartbeat(ctx, live, "w1", 0.5, at(time.Minute)))

	claimed, err := f.ClaimBatch(ctx, []int64{pending, stale, live, done, failed, missing, pending}, "w2", at(time.Minute), at(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := numbers(claimed), []int64{pending, stale, missing}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want the pending, the stale and the missing %v", got, want)
	}
	for _, r := range claimed {
		if r.Status != database.StatusComputing || r.Worker != "w2" || !r.HeartbeatAt.Equal(at(time.Minute)) {
			t.Errorf("claimed row %+v", r)
		}
	}
	if r := get(t, f, stale); r.Attempts != 2 {
		t.Errorf("the stale row's attempts %d, want 2", r.Attempts)
	}
	if r := get(t, f, live); r.Worker != "w1" {
		t.Errorf("the live row went to %s", r.Worker)
	}
	recs, err := f.GetMany(ctx, []int64{live, done, missing + 1})
	if err != nil || !slices.Equal(numbers(recs), []int64{live, done}) {
		t.Errorf("GetMany: %v %v", numbers(recs), err)
	}
}

func testCompleteBatch(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	// Enough digits for two statements (maxBatchText is 4 MiB).
	ns, cs := pendingWithDigits(t, f, 70, 64<<10)
	stored, other := newNumber(), newNumber()
	state(t, f, stored, database.StatusPending)
	state(t, f, other, database.StatusPending)
	cs = append(cs, database.Completion{Number: stored, Result: database.Result{Key: "factorials/x.txt", Bucket: "b", Checksum: "c", Size: 9, Digits: 9}})
	cs = append(cs, database.Completion{Number: other, Result: database.Result{Key: "k", Checksum: "c", Size: 1, Digits: 1}})
	claimed, err := f.ClaimBatch(ctx, append(slices.Clone(ns), stored), "w3", at(time.Hour), at(0))
	if err != nil || len(claimed) != 71 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}

	recs, err := f.CompleteBatch(ctx, "w3", cs, at(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := numbers(recs), append(slices.Clone(ns), stored); !slices.Equal(got, want) {
		t.Fatalf("completed %d rows, want the 71 claimed by w3 (not %d)", len(got), other)
	}
	for i, n := range ns {
		r := get(t, f, n)
		if r.Status != database.StatusDone || r.Key != "" || r.Text != cs[i].Result.Text || r.Size != 64<<10 ||
			r.Progress != 1 || !r.Unannounced || !r.ComputedAt.Equal(at(2*time.Hour)) {
			t.Fatalf("row %d after CompleteBatch: status %s key %q text %d bytes", n, r.Status, r.Key, len(r.Text))
		}
	}
	if r := get(t, f, stored); r.Key != "factorials/x.txt" || r.Bucket != "b" || r.Text != "" || r.Status != database.StatusDone {
		t.Errorf("stored result: %+v", r)
	}
	if r := get(t, f, other); r.Status != database.StatusPending {
		t.Errorf("a number w3 did not hold was completed: %+v", r)
	}
}

// More rows than one statement takes (maxBatchRows is 256), the last statement with fewer
// rows than PostgreSQL's prepared statement has (it is padded with rows that match nothing).
func testCompleteBatchManyRows(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	var cs []database.Completion
	var ns []int64
	for i := range 300 {
		n := newNumber()
		ns = append(ns, n)
		text := strconv.Itoa(1000 + i)
		cs = append(cs, database.Completion{Number: n, Result: database.Result{
			Checksum: "sum" + text, Size: int64(len(text)), Digits: int64(len(text)), ComputeMS: int64(i), Text: text}})
	}
	if _, err := f.RequestBatch(ctx, newRequests(ns), at(0)); err != nil {
		t.Fatal(err)
	}
	if claimed, err := f.ClaimBatch(ctx, ns, "w4", at(time.Hour), at(0)); err != nil || len(claimed) != len(ns) {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	recs, err := f.CompleteBatch(ctx, "w4", cs, at(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(recs); !slices.Equal(got, ns) {
		t.Fatalf("completed %d rows, want %d", len(got), len(ns))
	}
	for _, r := range recs {
		if r.Text == "" || r.Checksum != "sum"+r.Text {
			t.Fatalf("returned row %d: text %q checksum %q", r.Number, r.Text, r.Checksum)
		}
	}
	for i, n := range ns {
		r := get(t, f, n)
		if r.Status != database.StatusDone || r.Text != cs[i].Result.Text || r.Checksum != cs[i].Result.Checksum ||
			r.ComputeMS != int64(i) || !r.ComputedAt.Equal(at(2*time.Hour)) {
			t.Fatalf("row %d after CompleteBatch: %+v", n, r)
		}
	}
}

// pendingWithDigits makes count new numbers pending and returns them with a completion of
// each: digits digits in the row (a digit of its own per number).
func pendingWithDigits(t *testing.T, f *database.Factorials, count, digits int) ([]int64, []database.Completion) {
	t.Helper()
	ns := make([]int64, count)
	cs := make([]database.Completion, count)
	for i := range ns {
		ns[i] = newNumber()
		state(t, f, ns[i], database.StatusPending)
		text := strings.Repeat(string(rune('1'+i%9)), digits)
		cs[i] = database.Completion{Number: ns[i], Result: database.Result{
			Checksum: "sum", Size: int64(digits), Digits: int64(digits), ComputeMS: 3, Text: text}}
	}
	return ns, cs
}

func newRequests(ns []int64) []database.NewRequest {
	reqs := make([]database.NewRequest, len(ns))
	for i, n := range ns {
		reqs[i] = database.NewRequest{Number: n}
	}
	return reqs
}

func testAnnounced(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	// Whatever the earlier cases completed is owed too: start from what is listed now.
	owed, err := f.Unannounced(ctx, at(1000*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	must(t, f.MarkAnnounced(ctx, numbers(owed), at(0)))
	a, b, c := newNumber(), newNumber(), newNumber()
	for _, n := range []int64{a, b, c} {
		state(t, f, n, database.StatusDone) // computed at t0+2s
	}
	if recs, err := f.Unannounced(ctx, at(time.Second), 10); err != nil || len(recs) != 0 {
		t.Errorf("computed after the cut-off: %v %v", numbers(recs), err)
	}
	recs, err := f.Unannounced(ctx, at(time.Minute), 2)
	if err != nil || !slices.Equal(numbers(recs), []int64{a, b}) {
		t.Fatalf("Unannounced = %v %v, want the oldest two", numbers(recs), err)
	}
	must(t, f.MarkAnnounced(ctx, []int64{a, b}, at(time.Minute)))
	if r := get(t, f, a); r.Unannounced {
		t.Errorf("%d is still unannounced once marked", a)
	}
	recs, err = f.Unannounced(ctx, at(time.Minute), 10)
	if err != nil || !slices.Equal(numbers(recs), []int64{c}) {
		t.Fatalf("Unannounced after marking = %v %v, want %d", numbers(recs), err, c)
	}
	if _, err := f.Unannounced(ctx, at(time.Minute), 0); err == nil {
		t.Error("a zero limit is no error")
	}
}

// BenchmarkCompleteBatch records a chunk of 64 small results of 17 KB each (n near 5,000) on
// SQLite: what the small lane does per chunk. The digits are bound as parameters (not SQL
// literals): 38 ms a chunk before, 18 ms after, on the 2-core development machine.
func BenchmarkCompleteBatch(b *testing.B) {
	f := database.NewFactorials(dbtest.SQLite(b))
	text := strings.Repeat("7", 17000)
	n := int64(0)
	for b.Loop() {
		b.StopTimer()
		var ns []int64
		for range 64 {
			n++
			ns = append(ns, n)
		}
		now := time.Now()
		if _, err := f.ClaimBatch(b.Context(), ns, "w", now, now); err != nil {
			b.Fatal(err)
		}
		var cs []database.Completion
		for _, x := range ns {
			cs = append(cs, database.Completion{Number: x, Result: database.Result{Checksum: "c", Size: 17000, Digits: 17000, Text: text}})
		}
		b.StartTimer()
		if recs, err := f.CompleteBatch(b.Context(), "w", cs, now); err != nil || len(recs) != 64 {
			b.Fatal(err, len(recs))
		}
	}
}

// TestMarkAnnouncedLeavesTheDigitsUnwritten: on SQLite, marking results announced does not
// write their digits again (the flag keeps each row's size, and SQLite overwrites such a row
// in place, writing only the pages that changed): the WAL grows by a few pages per row, not
// by the 64 KB of digits each holds. With announced_at (NULL to a time), it grew by all of
// them.
func TestMarkAnnouncedLeavesTheDigitsUnwritten(t *testing.T) {
	db := dbtest.SQLite(t)
	f := dbtest.Factorials(db)
	ctx := t.Context()
	var (
		seq        int
		name, file string
	)
	if err := db.QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	const rows, digits = 20, 64 << 10
	ns, cs := pendingWithDigits(t, f, rows, digits)
	if claimed, err := f.ClaimBatch(ctx, ns, "w", at(time.Hour), at(0)); err != nil || len(claimed) != rows {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	if done, err := f.CompleteBatch(ctx, "w", cs, at(2*time.Hour)); err != nil || len(done) != rows {
		t.Fatalf("complete: %d %v", len(done), err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		st, err := os.Stat(file + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := walSize()
	must(t, f.MarkAnnounced(ctx, ns, at(3*time.Hour)))
	grew := walSize() - before
	if max := int64(rows * 3 * (4096 + 24)); grew > max {
		t.Errorf("marking %d rows of %d digits announced wrote %d bytes to the WAL, want at most %d (a few pages a row)",
			rows, digits, grew, max)
	}
	if owed, err := f.Unannounced(ctx, at(1000*time.Hour), 100); err != nil || len(owed) != 0 {
		t.Errorf("still owed after marking: %v %v", numbers(owed), err)
	}
}

// HeartbeatClaim keeps alive, in one statement, every row a batch's claim holds and has not
// recorded: not a row it completed, nor one another claim holds.
func testHeartbeatClaim(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	ns := []int64{9101, 9102, 9103}
	if _, err := f.RequestBatch(ctx, []database.NewRequest{{Number: 9101}, {Number: 9102}, {Number: 9103}, {Number: 9104}}, start); err != nil {
		t.Fatal(err)
	}
	if c, err := f.ClaimBatch(ctx, ns, "w/1", start, start); err != nil || len(c) != 3 {
		t.Fatalf("claimed %d: %v", len(c), err)
	}
	if _, ok, err := f.Claim(ctx, 9104, "w/2", start, start); !ok || err != nil {
		t.Fatalf("claim 9104: %v %v", ok, err)
	}
	if _, err := f.CompleteBatch(ctx, "w/1", []database.Completion{{Number: 9101, Result: database.Result{Checksum: "x", Size: 1, Digits: 1, Text: "1"}}}, start); err != nil {
		t.Fatal(err)
	}
	now := start.Add(30 * time.Second)
	if n, err := f.HeartbeatClaim(ctx, "w/1", now); err != nil || n != 2 {
		t.Fatalf("HeartbeatClaim: %d rows, %v; want 2 (9102 and 9103)", n, err)
	}
	for n, want := range map[int64]time.Time{9102: now, 9103: now, 9104: start} {
		rec, err := f.Get(ctx, n)
		if err != nil || rec.HeartbeatAt == nil || !rec.HeartbeatAt.Equal(want) {
			t.Errorf("%d: heartbeat %v (%v), want %v", n, rec.HeartbeatAt, err, want)
		}
	}
}
