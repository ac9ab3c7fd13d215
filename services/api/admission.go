package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
)

// QueueCounter reports the large requests queued (database.Factorials.QueuedLarge).
type QueueCounter interface {
	QueuedLarge(ctx context.Context, client string) (total time.Duration, mine int, err error)
}

// admission keeps heavy work from swamping the calculators. A request of the large lane
// that would make new work (its number is not pending, computing or done already) is held
// to two limits, both over the requests pending or computing in the database (so they hold
// across API replicas and restarts):
//
//   - the budget: the estimated cost (events.Cost) of the queued large requests plus this
//     one may not exceed ADMISSION_LARGE_BUDGET; beyond, 503 with Retry-After;
//   - the per-client cap: one client (its API key, else its address) may have at most
//     ADMISSION_LARGE_PER_CLIENT large requests queued; beyond, 429 with Retry-After.
//
// Small requests are never held: the small lane is cheap and has slots of its own. The
// checks of one API replica run one at a time, so a burst cannot overshoot there; replicas
// checking at the same instant may overshoot by a request each.
type admission struct {
	records interface {
		QueueCounter
		Get(ctx context.Context, n int64) (database.Record, error)
	}
	budget    time.Duration // 0: no budget
	perClient int           // 0: no cap

	mu sync.Mutex
}

// active reports whether any limit is set.
func (a *admission) active() bool { return a.budget > 0 || a.perClient > 0 }

// admit records a request for n by client through record when the limits allow it, or
// returns the problem to answer. existing is what is known of n (nil when never requested).
func (a *admission) admit(ctx context.Context, n int64, client string, existing *database.Record,
	record func() (database.Record, error)) (database.Record, error) {
	if existing != nil && noNewWork(existing.Status) {
		return record() // it changes nothing, and answers with what stands
	}
	a.mu.Lock()
	// Another request may have made n pending while this one waited for its turn (a burst
	// of POSTs of one number): then this one is no new work either, and records at once,
	// beside the others, instead of holding the checks of the requests behind it.
	again, err := a.records.Get(ctx, n)
	switch {
	case err == nil && noNewWork(again.Status):
		a.mu.Unlock()
		return record()
	case err != nil && !errors.Is(err, database.ErrNotFound):
		a.mu.Unlock()
		return database.Record{}, dbError(n, err)
	}
	defer a.mu.Unlock()
	total, mine, err := a.records.QueuedLarge(ctx, client)
	if err != nil {
		return database.Record{}, dbError(n, err)
	}
	cost := events.Cost(n)
	switch {
	case a.perClient > 0 && mine >= a.perClient:
		return database.Record{}, problem(http.StatusTooManyRequests,
			"you have %d large requests (n above %d) waiting to be computed, the most one client may have; ask again once some are done (GET them with ?wait), or ask for n up to %d",
			mine, events.SmallMaxNumber, events.SmallMaxNumber).With("Retry-After", strconv.Itoa(retryAfter(cost)))
	case a.budget > 0 && total+cost > a.budget:
		return database.Record{}, unavailable(fmt.Sprintf(
			"the queue of large computations is full (about %s of work waiting, the limit is %s); requests for n up to %d are still taken",
			roughly(total), roughly(a.budget), events.SmallMaxNumber), retryAfter(total+cost-a.budget))
	}
	return record()
}

// noNewWork reports whether a request for a number in status s makes no new work: it is
// queued, being computed, or done.
func noNewWork(s database.Status) bool {
	return s == database.StatusPending || s == database.StatusComputing || s == database.StatusDone
}

// roughly is d to a precision a person reads.
func roughly(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// retryAfter is when to ask again, in seconds, for a queue that must shrink by d (it shrinks
// by at least about a second of estimated work a second): from 1 s to 10 min.
func retryAfter(d time.Duration) int {
	return int(min(max(math.Ceil(d.Seconds()), 1), 600))
}
