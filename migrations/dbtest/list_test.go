package dbtest_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// Cancel and List, on SQLite and PostgreSQL.
func TestCancel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) { testCancel(t, dbtest.Factorials(db)) })
}

// List sees a database of its own: only its rows.
func TestList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) { testList(t, dbtest.Factorials(db)) })
}

// inOrder is the numbers of recs as listed.
func inOrder(recs []database.Record) []int64 {
	ns := make([]int64, len(recs))
	for i, r := range recs {
		ns[i] = r.Number
	}
	return ns
}

func testCancel(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	later := at(time.Hour)
	for _, tc := range []struct {
		name      string
		from      database.Status
		cancelled bool
	}{
		{"pending is cancelled", database.StatusPending, true},
		{"computing is cancelled", database.StatusComputing, true},
		{"done is left as it is", database.StatusDone, false},
		{"failed is left as it is", database.StatusFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNumber() + 1000
			state(t, f, n, tc.from)
			before := get(t, f, n)
			rec, ok, err := f.Cancel(ctx, n, later)
			if err != nil || ok != tc.cancelled {
				t.Fatalf("Cancel = %v, %v; want cancelled=%v", ok, err, tc.cancelled)
			}
			if !tc.cancelled {
				if !equalRecords(rec, before) || !equalRecords(get(t, f, n), before) {
					t.Fatalf("Cancel of a %s row changed it: %+v → %+v", tc.from, before, rec)
				}
				return
			}
			if rec.Status != database.StatusCancelled || !equalRecords(rec, get(t, f, n)) {
				t.Fatalf("Cancel returned %+v, stored %+v; want both cancelled", rec, get(t, f, n))
			}
			wantTime(t, "UpdatedAt", rec.UpdatedAt, later)
			if rec.Attempts != before.Attempts || rec.Worker != before.Worker || rec.HeartbeatAt != nil {
				t.Errorf("cancelled %+v; want attempts and worker kept, no heartbeat (was %+v)", rec, before)
			}
			if _, again, err := f.Cancel(ctx, n, later.Add(time.Second)); err != nil || again {
				t.Errorf("a second Cancel = %v, %v; want false, nil", again, err)
			}
			// A cancelled number is nobody's: no heartbeat, result or claim takes it, and the
			// reconciler leaves it alone.
			if err := f.Heartbeat(ctx, n, "w1", 0.5, later); !errors.Is(err, database.ErrNotClaimed) {
				t.Errorf("Heartbeat after Cancel = %v, want ErrNotClaimed", err)
			}
			if done, err := f.CompleteBatch(ctx, "w1", []database.Completion{{Number: n, Result: database.Result{Text: "1"}}}, later); err != nil || len(done) != 0 {
				t.Errorf("CompleteBatch after Cancel = %v, %v; want nothing completed", numbers(done), err)
			}
			if claimed, err := f.ClaimBatch(ctx, []int64{n}, "w2", later, later); err != nil || len(claimed) != 0 {
				t.Errorf("ClaimBatch after Cancel = %v, %v; want nothing claimed", numbers(claimed), err)
			}
			if stuck, err := f.Stuck(ctx, later.Add(time.Hour), later.Add(time.Hour), 1000); err != nil || slices.ContainsFunc(stuck, func(r database.Record) bool { return r.Number == n }) {
				t.Errorf("Stuck lists a cancelled number (%v)", err)
			}
			// Asking again starts anew.
			again, created, err := f.Request(ctx, n, later.Add(time.Minute))
			if err != nil || !created || again.Status != database.StatusPending || again.Attempts != 0 {
				t.Fatalf("Request after Cancel = %+v, created=%v, %v; want a new pending request", again, created, err)
			}
			wantTime(t, "RequestedAt", again.RequestedAt, later.Add(time.Minute))
		})
	}
	t.Run("missing is not found", func(t *testing.T) {
		if _, _, err := f.Cancel(ctx, 999_999, later); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("Cancel of a missing number = %v, want ErrNotFound", err)
		}
	})
}

func testList(t *testing.T, f *database.Factorials) {
	ctx := t.Context()
	// Created a quarter of a second apart (on SQLite, text times whose fractions are cut
	// differently must still sort as times), and two at the same instant: the number breaks
	// the tie.
	created := map[int64]time.Duration{
		501: 0, 502: 250 * time.Millisecond, 503: 500 * time.Millisecond, 504: time.Second,
		505: 1250 * time.Millisecond, 506: 1250 * time.Millisecond, 507: 2 * time.Second,
	}
	for n, d := range created {
		must(t, err3(f.Request(ctx, n, at(d))))
	}
	newestFirst := []int64{507, 506, 505, 504, 503, 502, 501}
	for _, n := range []int64{503, 506} {
		must(t, err2(f.ClaimBatch(ctx, []int64{n}, "w1", at(3*time.Second), at(0))))
	}
	must(t, err2(f.CompleteBatch(ctx, "w1", []database.Completion{{Number: 503, Result: database.Result{Text: "120", Size: 3}}}, at(4*time.Second))))
	must(t, err3(f.Cancel(ctx, 502, at(4*time.Second))))

	page := func(q database.ListQuery) []database.Record {
		t.Helper()
		recs, err := f.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	// walk pages through with the cursor of each page's last row.
	walk := func(q database.ListQuery, between func()) []int64 {
		t.Helper()
		var got []int64
		for range 20 {
			recs := page(q)
			got = append(got, inOrder(recs)...)
			if len(recs) < q.Limit {
				return got
			}
			c := database.CursorOf(recs[len(recs)-1])
			q.After = &c
			if between != nil {
				between()
			}
		}
		t.Fatal("paging did not end")
		return nil
	}

	t.Run("newest first, the number breaking ties", func(t *testing.T) {
		if got := inOrder(page(database.ListQuery{Limit: 100})); !slices.Equal(got, newestFirst) {
			t.Fatalf("List = %v, want %v", got, newestFirst)
		}
	})
	t.Run("pages neither repeat nor skip, while the rows change", func(t *testing.T) {
		step := 0
		got := walk(database.ListQuery{Limit: 2}, func() {
			// Each row changes between pages: status, progress, updated_at.
			step++
			must(t, err2(f.ClaimBatch(ctx, []int64{501}, "w2", at(time.Duration(10+step)*time.Second), at(time.Hour))))
			_ = f.Heartbeat(ctx, 501, "w2", float64(step)/10, at(time.Duration(10+step)*time.Second))
		})
		if !slices.Equal(got, newestFirst) {
			t.Fatalf("paged %v, want %v", got, newestFirst)
		}
	})
	t.Run("a status filter", func(t *testing.T) {
		q := database.ListQuery{Limit: 1, Statuses: []database.Status{database.StatusPending, database.StatusComputing}}
		if got, want := walk(q, nil), []int64{507, 506, 505, 504, 501}; !slices.Equal(got, want) {
			t.Fatalf("pending and computing = %v, want %v", got, want)
		}
		done := page(database.ListQuery{Limit: 10, Statuses: []database.Status{database.StatusDone}})
		if !slices.Equal(inOrder(done), []int64{503}) || done[0].Text != "" || done[0].Size != 3 {
			t.Fatalf("done = %+v; want 503 without its digits (Text empty)", done)
		}
		if got := inOrder(page(database.ListQuery{Limit: 10, Statuses: []database.Status{database.StatusCancelled}})); !slices.Equal(got, []int64{502}) {
			t.Fatalf("cancelled = %v, want [502]", got)
		}
	})
	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []database.ListQuery{{Limit: 0}, {Limit: 5, Statuses: []database.Status{"lost"}}} {
			if _, err := f.List(ctx, q); err == nil {
				t.Errorf("List(%+v) = nil error", q)
			}
		}
	})
}
