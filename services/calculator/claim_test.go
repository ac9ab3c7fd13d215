package calculator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
)

// Each claim has a name of its own, so a computation this process gave up cannot touch a
// later claim of the same number by the same process: a request cancelled while computing,
// asked for again and claimed in another slot, was sent back (the cancelled computation's
// Release matched the process's id) and waited for the reconciler.
func TestAClaimGivenUpCannotTouchALaterOne(t *testing.T) {
	records := database.NewFactorials(dbtest.SQLite(t))
	w := &worker{id: "host-1"}
	ctx := context.Background()
	now := time.Now()
	const n = 30000
	claim := func() string {
		t.Helper()
		id := w.claimID()
		if _, _, err := records.Request(ctx, n, now); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := records.Claim(ctx, n, id, now, now.Add(-10*time.Second)); !ok || err != nil {
			t.Fatalf("claim %s: %v %v", id, ok, err)
		}
		return id
	}
	first := claim()
	if _, _, err := records.Cancel(ctx, n, now); err != nil {
		t.Fatal(err)
	}
	second := claim()
	if first == second {
		t.Fatalf("two claims named %q", first)
	}
	for what, err := range map[string]error{
		"release":   records.Release(ctx, n, first, "the request was cancelled", now),
		"heartbeat": records.Heartbeat(ctx, n, first, 0.5, now),
	} {
		if !errors.Is(err, database.ErrNotClaimed) {
			t.Errorf("%s by the claim given up: %v, want ErrNotClaimed", what, err)
		}
	}
	if _, err := records.Complete(ctx, n, first, database.Result{Checksum: "x", Size: 1, Digits: 1, Text: "1"}, now); !errors.Is(err, database.ErrNotClaimed) {
		t.Errorf("complete by the claim given up: %v, want ErrNotClaimed", err)
	}
	if rec, err := records.Get(ctx, n); err != nil || rec.Status != database.StatusComputing || rec.Worker != second {
		t.Errorf("record: %s by %q (%v), want computing by %q", rec.Status, rec.Worker, err, second)
	}
}
