package dbtest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// The contract suite of database.Factorials, run against SQLite and PostgreSQL. It lives
// here rather than in platform/database because it needs the migrated schema.

// t0 is the suite's clock; times a fraction of a second apart check that comparisons in
// SQL follow time order on both databases.
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestFactorials(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		f := dbtest.Factorials(db)
		// Stuck first: it lists the whole table, so it runs before the other cases add rows.
		t.Run("Stuck", func(t *testing.T) { testStuck(t, f) })
		t.Run("Request", func(t *testing.T) { testRequest(t, f) })
		t.Run("Get", func(t *testing.T) { testGet(t, f) })
		t.Run("Claim", func(t *testing.T) { testClaim(t, f) })
		t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, f) })
		t.Run("Complete", func(t *testing.T) { testComplete(t, f) })
		t.Run("Release", func(t *testing.T) { testRelease(t, f) })
		t.Run("Fail", func(t *testing.T) { testFail(t, f) })
		t.Run("Checked", func(t *testing.T) { testChecked(t, f) })
		t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, f) })
	})
}

// lastNumber hands out a distinct n to every case, since the cases of one backend share a database.
var lastNumber atomic.Int64

func newNumber() int64 { return lastNumber.Add(1) }

// state brings n into a status, each step a second after the last, starting at t0:
// pending (requested at t0), computing by "w1" (claimed at t0+1s), done or failed (t0+2s).
func state(t *testing.T, f *database.Factorials, n int64, s database.Status) {
	t.Helper()
	ctx := t.Context()
	if s == "" {
		return
	}
	must(t, err3(f.Request(ctx, n, at(0))))
	if s == database.StatusPending {
		return
	}
	if _, ok, err := f.Claim(ctx, n, "w1", at(time.Second), at(0)); err != nil || !ok {
		t.Fatalf("claim %d: ok=%v err=%v", n, ok, err)
	}
	switch s {
	case database.StatusDone:
		must(t, err2(f.Complete(ctx, n, "w1", database.Result{Key: "k"}, at(2*time.Second))))
	case database.StatusFailed:
		must(t, err2(f.Fail(ctx, n, "w1", "boom", at(2*time.Second))))
	}
}

func testRequest(t *testing.T, f *database.Factorials) {
	later := at(time.Hour)
	for _, tc := range []struct {
		name        string
		from        database.Status
		wantCreated bool
		wantStatus  database.Status
		wantReqAt   time.Time
	}{
		{"new number is created pending", "", true, database.StatusPending, later},
		{"pending is left unchanged", database.StatusPending, false, database.StatusPending, at(0)},
		{"computing is left unchanged", database.StatusComputing, false, database.StatusComputing, at(0)},
		{"done is left unchanged", database.StatusDone, false, database.StatusDone, at(0)},
		{"failed is reset to pending for a retry", database.StatusFailed, true, database.StatusPending, later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			before, _ := f.Get(t.Context(), n)

			rec, created, err := f.Request(t.Context(), n, later.In(time.FixedZone("CET", 3600)))
			if err != nil {
				t.Fatal(err)
			}
			if created != tc.wantCreated || rec.Status != tc.wantStatus {
				t.Fatalf("created=%v status=%s, want created=%v status=%s", created, rec.Status, tc.wantCreated, tc.wantStatus)
			}
			wantTime(t, "RequestedAt", rec.RequestedAt, tc.wantReqAt)
			if rec.Number != n {
				t.Errorf("Number = %d, want %d", rec.Number, n)
			}
			switch {
			case tc.from == "":
				wantTime(t, "CreatedAt", rec.CreatedAt, later)
				wantTime(t, "UpdatedAt", rec.UpdatedAt, later)
				if rec.Attempts != 0 || rec.Progress != 0 || rec.Worker != "" || rec.StartedAt != nil || rec.HeartbeatAt != nil || rec.ComputedAt != nil {
					t.Errorf("new record not blank: %+v", rec)
				}
			case tc.wantCreated: // failed → pending
				wantTime(t, "CreatedAt", rec.CreatedAt, at(0))
				wantTime(t, "UpdatedAt", rec.UpdatedAt, later)
				if rec.Attempts != 0 || rec.Error != "" || rec.Progress != 0 || rec.HeartbeatAt != nil {
					t.Errorf("retried record not reset: %+v", rec)
				}
			default:
				if !equalRecords(rec, before) {
					t.Errorf("record changed:\n got %+v\nwant %+v", rec, before)
				}
			}
		})
	}
}

func testGet(t *testing.T, f *database.Factorials) {
	t.Run("missing number is ErrNotFound", func(t *testing.T) {
		_, err := f.Get(t.Context(), newNumber())
		if !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("requested number is the record Request returned", func(t *testing.T) {
		n := newNumber()
		want, _, err := f.Request(t.Context(), n, at(123456789*time.Nanosecond))
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Get(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		if !equalRecords(got, want) {
			t.Fatalf("Get:\n got %+v\nwant %+v", got, want)
		}
		// Stored to the microsecond, in UTC.
		wantTime(t, "RequestedAt", got.RequestedAt, at(123456*time.Microsecond))
	})
}

func testClaim(t *testing.T, f *database.Factorials) {
	now := at(10 * time.Second)
	for _, tc := range []struct {
		name         string
		from         database.Status
		staleBefore  time.Time // the claim in state() has its heartbeat at t0+1s
		wantOK       bool
		wantWorker   string
		wantAttempts int
	}{
		{"pending is claimed", database.StatusPending, at(0), true, "w2", 1},
		{"missing row is inserted claimed", "", at(0), true, "w2", 1},
		{"computing by a live worker is refused", database.StatusComputing, at(time.Second), false, "w1", 1},
		{"computing with a heartbeat 1ms too old is taken over", database.StatusComputing, at(time.Second + time.Millisecond), true, "w2", 2},
		{"computing with a heartbeat 1µs too old is taken over", database.StatusComputing, at(time.Second + time.Microsecond), true, "w2", 2},
		{"done is refused", database.StatusDone, now, false, "w1", 1},
		{"failed is refused", database.StatusFailed, now, false, "w1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			rec, ok, err := f.Claim(t.Context(), n, "w2", now, tc.staleBefore)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || rec.Worker != tc.wantWorker || rec.Attempts != tc.wantAttempts {
				t.Fatalf("ok=%v worker=%q attempts=%d, want ok=%v worker=%q attempts=%d",
					ok, rec.Worker, rec.Attempts, tc.wantOK, tc.wantWorker, tc.wantAttempts)
			}
			if rec.Number != n {
				t.Fatalf("Number = %d, want %d", rec.Number, n)
			}
			if !ok {
				if tc.from != database.StatusComputing && rec.Status != tc.from {
					t.Errorf("status = %s, want %s", rec.Status, tc.from)
				}
				return
			}
			if rec.Status != database.StatusComputing || rec.Progress != 0 {
				t.Errorf("status=%s progress=%v, want computing 0", rec.Status, rec.Progress)
			}
			wantTimePtr(t, "StartedAt", rec.StartedAt, now)
			wantTimePtr(t, "HeartbeatAt", rec.HeartbeatAt, now)
			wantTime(t, "UpdatedAt", rec.UpdatedAt, now)
			if tc.from == "" {
				wantTime(t, "RequestedAt", rec.RequestedAt, now)
				wantTime(t, "CreatedAt", rec.CreatedAt, now)
			}
		})
	}
}

func testHeartbeat(t *testing.T, f *database.Factorials) {
	now := at(5 * time.Second)
	for _, tc := range []struct {
		name         string
		from         database.Status
		worker       string
		progress     float64
		wantErr      error
		wantProgress float64
	}{
		{"holder records progress", database.StatusComputing, "w1", 0.25, nil, 0.25},
		{"progress above 1 is kept at 1", database.StatusComputing, "w1", 1.5, nil, 1},
		{"negative progress is kept at 0", database.StatusComputing, "w1", -0.5, nil, 0},
		{"another worker is ErrNotClaimed", database.StatusComputing, "w2", 0.5, database.ErrNotClaimed, 0},
		{"pending is ErrNotClaimed", database.StatusPending, "w1", 0.5, database.ErrNotClaimed, 0},
		{"done is ErrNotClaimed", database.StatusDone, "w1", 0.5, database.ErrNotClaimed, 1},
		{"missing row is ErrNotClaimed", "", "w1", 0.5, database.ErrNotClaimed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			err := f.Heartbeat(t.Context(), n, tc.worker, tc.progress, now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.from == "" {
				return
			}
			rec := get(t, f, n)
			if rec.Progress != tc.wantProgress {
				t.Errorf("Progress = %v, want %v", rec.Progress, tc.wantProgress)
			}
			if tc.wantErr == nil {
				wantTimePtr(t, "HeartbeatAt", rec.HeartbeatAt, now)
			}
		})
	}
	t.Run("old worker is ErrNotClaimed after a takeover", func(t *testing.T) {
		n := newNumber()
		state(t, f, n, database.StatusComputing) // w1, heartbeat t0+1s
		if _, ok, err := f.Claim(t.Context(), n, "w2", at(time.Minute), at(2*time.Second)); err != nil || !ok {
			t.Fatalf("takeover: ok=%v err=%v", ok, err)
		}
		if err := f.Heartbeat(t.Context(), n, "w1", 0.9, at(time.Minute)); !errors.Is(err, database.ErrNotClaimed) {
			t.Fatalf("w1 heartbeat: err = %v, want ErrNotClaimed", err)
		}
		if _, err := f.Complete(t.Context(), n, "w1", database.Result{}, at(time.Minute)); !errors.Is(err, database.ErrNotClaimed) {
			t.Fatalf("w1 complete: err = %v, want ErrNotClaimed", err)
		}
		if err := f.Heartbeat(t.Context(), n, "w2", 0.1, at(time.Minute)); err != nil {
			t.Fatalf("w2 heartbeat: %v", err)
		}
	})
}

func testComplete(t *testing.T, f *database.Factorials) {
	result := database.Result{Key: "factorials/7.txt", Bucket: "b", Checksum: "5c1f", Size: 4, Digits: 4, ComputeMS: 3}
	now := at(3 * time.Second)
	for _, tc := range []struct {
		name    string
		from    database.Status
		worker  string
		wantErr error
	}{
		{"holder completes it", database.StatusComputing, "w1", nil},
		{"another worker is ErrNotClaimed", database.StatusComputing, "w2", database.ErrNotClaimed},
		{"done is ErrNotClaimed", database.StatusDone, "w1", database.ErrNotClaimed},
		{"pending is ErrNotClaimed", database.StatusPending, "w1", database.ErrNotClaimed},
		{"missing row is ErrNotClaimed", "", "w1", database.ErrNotClaimed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			rec, err := f.Complete(t.Context(), n, tc.worker, result, now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got := database.Result{Key: rec.Key, Bucket: rec.Bucket, Checksum: rec.Checksum, Size: rec.Size, Digits: rec.Digits, ComputeMS: rec.ComputeMS}
			if rec.Status != database.StatusDone || rec.Progress != 1 || got != result {
				t.Errorf("record = %+v, want done, progress 1, %+v", rec, result)
			}
			wantTimePtr(t, "ComputedAt", rec.ComputedAt, now)
			if stored := get(t, f, n); !equalRecords(stored, rec) {
				t.Errorf("stored:\n got %+v\nwant %+v", stored, rec)
			}
		})
	}
}

func testRelease(t *testing.T, f *database.Factorials) {
	t.Run("holder gives it back pending for another worker", func(t *testing.T) {
		n := newNumber()
		state(t, f, n, database.StatusComputing)
		now := at(4 * time.Second)
		if err := f.Release(t.Context(), n, "w1", "store unreachable", now); err != nil {
			t.Fatal(err)
		}
		rec := get(t, f, n)
		if rec.Status != database.StatusPending || rec.Worker != "" || rec.Attempts != 1 || rec.HeartbeatAt != nil || rec.Error != "store unreachable" {
			t.Fatalf("released record = %+v", rec)
		}
		wantTime(t, "RequestedAt", rec.RequestedAt, now)
		rec, ok, err := f.Claim(t.Context(), n, "w2", at(5*time.Second), at(0))
		if err != nil || !ok || rec.Attempts != 2 {
			t.Fatalf("claim after release: ok=%v attempts=%d err=%v", ok, rec.Attempts, err)
		}
	})
	t.Run("a release without reason (shutdown) does not count as an attempt", func(t *testing.T) {
		n := newNumber()
		state(t, f, n, database.StatusComputing)
		if err := f.Release(t.Context(), n, "w1", "", at(4*time.Second)); err != nil {
			t.Fatal(err)
		}
		if rec := get(t, f, n); rec.Status != database.StatusPending || rec.Attempts != 0 || rec.Error != "" {
			t.Fatalf("released record = %+v", rec)
		}
	})
	for _, tc := range []struct {
		name   string
		from   database.Status
		worker string
	}{
		{"another worker is ErrNotClaimed", database.StatusComputing, "w2"},
		{"pending is ErrNotClaimed", database.StatusPending, "w1"},
		{"done is ErrNotClaimed", database.StatusDone, "w1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			if err := f.Release(t.Context(), n, tc.worker, "", at(4*time.Second)); !errors.Is(err, database.ErrNotClaimed) {
				t.Fatalf("err = %v, want ErrNotClaimed", err)
			}
		})
	}
}

func testFail(t *testing.T, f *database.Factorials) {
	t.Run("holder fails it with the reason, and a new request retries it", func(t *testing.T) {
		n := newNumber()
		state(t, f, n, database.StatusComputing)
		rec, err := f.Fail(t.Context(), n, "w1", "out of memory", at(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != database.StatusFailed || rec.Error != "out of memory" {
			t.Fatalf("failed record = %+v", rec)
		}
		wantTime(t, "UpdatedAt", rec.UpdatedAt, at(3*time.Second))
		if _, ok, _ := f.Claim(t.Context(), n, "w2", at(4*time.Second), at(4*time.Second)); ok {
			t.Fatal("a failed row was claimed")
		}
		if _, created, err := f.Request(t.Context(), n, at(5*time.Second)); err != nil || !created {
			t.Fatalf("retry: created=%v err=%v", created, err)
		}
	})
	t.Run("another worker is ErrNotClaimed", func(t *testing.T) {
		n := newNumber()
		state(t, f, n, database.StatusComputing)
		if _, err := f.Fail(t.Context(), n, "w2", "x", at(3*time.Second)); !errors.Is(err, database.ErrNotClaimed) {
			t.Fatalf("err = %v, want ErrNotClaimed", err)
		}
	})
}

func testStuck(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	// A window of its own, far from the other cases' times (which share the table).
	base := 1000 * time.Hour
	pending := func(d time.Duration) int64 {
		n := newNumber()
		must(t, err3(f.Request(ctx, n, at(base+d))))
		return n
	}
	computing := func(d time.Duration) int64 {
		n := pending(0)
		if _, ok, err := f.Claim(ctx, n, "w", at(base+d), at(0)); err != nil || !ok {
			t.Fatalf("claim: ok=%v err=%v", ok, err)
		}
		return n
	}
	// Whole seconds and fractions interleaved: order must be time order on SQLite's text too.
	p1500 := pending(1500 * time.Millisecond)
	p1000 := pending(1000 * time.Millisecond)
	c1250 := computing(1250 * time.Millisecond)
	p1501 := pending(1500*time.Millisecond + time.Microsecond)
	c2000 := computing(2000 * time.Millisecond)
	pending(3 * time.Second)                        // requested too recently
	computing(3 * time.Second)                      // heartbeat too recent
	state(t, f, newNumber(), database.StatusDone)   // never stuck (times near t0)
	state(t, f, newNumber(), database.StatusFailed) // never stuck

	cutoff := at(base + 3*time.Second)
	for _, tc := range []struct {
		name  string
		limit int
		want  []int64
	}{
		{"all stuck rows, oldest first", 100, []int64{p1000, c1250, p1500, p1501, c2000}},
		{"at most limit, the oldest", 2, []int64{p1000, c1250}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := f.Stuck(ctx, cutoff, cutoff, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range recs {
				got = append(got, r.Number)
			}
			if !equalInts(got, tc.want) {
				t.Fatalf("stuck = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("pending and computing use their own cutoff", func(t *testing.T) {
		recs, err := f.Stuck(ctx, cutoff, at(base), 100) // no heartbeat is that old
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range recs {
			got = append(got, r.Number)
		}
		if want := []int64{p1000, p1500, p1501}; !equalInts(got, want) {
			t.Fatalf("stuck = %v, want %v", got, want)
		}
	})
	t.Run("nothing before the window", func(t *testing.T) {
		recs, err := f.Stuck(ctx, at(-time.Hour), at(-time.Hour), 10)
		if err != nil || len(recs) != 0 {
			t.Fatalf("len=%d err=%v, want none", len(recs), err)
		}
	})
	t.Run("zero limit is an error", func(t *testing.T) {
		if _, err := f.Stuck(ctx, at(0), at(0), 0); err == nil {
			t.Fatal("no error")
		}
	})
}

func testChecked(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	// A window of its own, as testStuck's.
	base := 2000 * time.Hour
	p, c, d := newNumber(), newNumber(), newNumber()
	must(t, err3(f.Request(ctx, p, at(base))))
	must(t, err3(f.Request(ctx, c, at(base))))
	if _, ok, err := f.Claim(ctx, c, "w", at(base), at(0)); err != nil || !ok {
		t.Fatalf("claim: %v", err)
	}
	state(t, f, d, database.StatusDone)
	cutoff := at(base + time.Minute)
	stuck := func() []int64 {
		recs, err := f.Stuck(ctx, cutoff, cutoff, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range recs {
			if r.Number == p || r.Number == c {
				got = append(got, r.Number)
			}
		}
		return got
	}
	if got := stuck(); !equalInts(got, []int64{p, c}) {
		t.Fatalf("stuck before the check = %v, want %v", got, []int64{p, c})
	}
	must(t, f.Checked(ctx, []int64{p, c, d, newNumber()}, at(base+90*time.Second)))
	if got := stuck(); len(got) != 0 {
		t.Errorf("stuck after a check since the cutoff = %v, want none", got)
	}
	if r := get(t, f, p); !r.RequestedAt.Equal(at(base)) || r.CheckedAt == nil {
		t.Errorf("checking changed RequestedAt or left no mark: %+v", r)
	}
	if r := get(t, f, d); r.CheckedAt != nil {
		t.Errorf("a done row was marked checked")
	}
	later := at(base + 2*time.Minute) // the check at 90 s is before this cutoff
	recs, err := f.Stuck(ctx, later, later, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range recs {
		if r.Number == p || r.Number == c {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("checked rows not listed again once they waited once more (%d of 2)", seen)
	}
}

func testConcurrency(t *testing.T, f *database.Factorials) {
	for _, tc := range []struct {
		name string
		from database.Status
		n    int
		op   func(ctx context.Context, n int64, i int) (bool, error)
	}{
		{"50 requests of a new number create it once", "", 50, func(ctx context.Context, n int64, i int) (bool, error) {
			_, created, err := f.Request(ctx, n, at(time.Duration(i)))
			return created, err
		}},
		{"50 requests of a failed number retry it once", database.StatusFailed, 50, func(ctx context.Context, n int64, i int) (bool, error) {
			_, created, err := f.Request(ctx, n, at(time.Hour))
			return created, err
		}},
		{"20 claims of a pending number: one wins", database.StatusPending, 20, func(ctx context.Context, n int64, i int) (bool, error) {
			_, ok, err := f.Claim(ctx, n, workerName(i), at(time.Hour), at(0))
			return ok, err
		}},
		{"20 claims of a missing number: one wins", "", 20, func(ctx context.Context, n int64, i int) (bool, error) {
			_, ok, err := f.Claim(ctx, n, workerName(i), at(time.Hour), at(0))
			return ok, err
		}},
		{"20 takeovers of a stale claim: one wins", database.StatusComputing, 20, func(ctx context.Context, n int64, i int) (bool, error) {
			_, ok, err := f.Claim(ctx, n, workerName(i), at(time.Hour), at(time.Minute))
			return ok, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber()
			state(t, f, n, tc.from)
			type outcome struct {
				won bool
				err error
			}
			results := make(chan outcome, tc.n)
			start := make(chan struct{})
			for i := range tc.n {
				go func() {
					<-start
					won, err := tc.op(t.Context(), n, i)
					results <- outcome{won, err}
				}()
			}
			close(start)
			wins := 0
			for range tc.n {
				o := <-results
				if o.err != nil {
					t.Error(o.err)
				}
				if o.won {
					wins++
				}
			}
			if wins != 1 {
				t.Fatalf("%d winners, want exactly 1", wins)
			}
		})
	}
}

func workerName(i int) string { return "worker-" + string(rune('a'+i)) }

// Helpers.

func get(t *testing.T, f *database.Factorials, n int64) database.Record {
	t.Helper()
	rec, err := f.Get(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// err2 and err3 keep the error of a call with two or three results.
func err2[A any](_ A, err error) error         { return err }
func err3[A, B any](_ A, _ B, err error) error { return err }

func wantTime(t *testing.T, name string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %s, want %s in UTC", name, got, want.UTC())
	}
}

func wantTimePtr(t *testing.T, name string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %s", name, want)
		return
	}
	wantTime(t, name, *got, want)
}

func equalRecords(a, b database.Record) bool {
	eqPtr := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.Number == b.Number && a.Status == b.Status && a.Attempts == b.Attempts && a.Progress == b.Progress &&
		a.Key == b.Key && a.Bucket == b.Bucket && a.Checksum == b.Checksum && a.Size == b.Size &&
		a.Digits == b.Digits && a.ComputeMS == b.ComputeMS && a.Error == b.Error && a.Worker == b.Worker &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.RequestedAt.Equal(b.RequestedAt) &&
		eqPtr(a.StartedAt, b.StartedAt) && eqPtr(a.HeartbeatAt, b.HeartbeatAt) && eqPtr(a.ComputedAt, b.ComputedAt)
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
