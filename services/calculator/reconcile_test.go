package calculator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/migrations/dbtest"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// reconcileRig is a reconciler over an in-process NATS server and SQLite, with no calculator
// consuming: what it finds in the stream stays there.
type reconcileRig struct {
	r       *reconciler
	records *database.Factorials
	setText func(ctx context.Context, n int64, text string) error // writes a row's result_text
	js      jetstream.JetStream
	pub     *natsbus.Publisher
	url     string
	clock   atomic.Int64 // unix nanoseconds
}

func newReconcileRig(t *testing.T) *reconcileRig {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := natsbus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.Provision(t.Context(), pub.JetStream(), natsbus.Layout{Replicas: 1, Consumers: map[events.Lane]natsbus.Consumer{
		events.LaneSmall: {AckWait: time.Minute, MaxAckPending: 100_000}, events.LaneLarge: {AckWait: time.Minute, MaxAckPending: 100},
	}}); err != nil {
		t.Fatal(err)
	}
	lookup, err := natsbus.NewLookup(nc)
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.SQLite(t)
	rr := &reconcileRig{records: database.NewFactorials(db), js: pub.JetStream(), pub: pub, url: ns.ClientURL()}
	rr.setText = func(ctx context.Context, n int64, text string) error {
		_, err := db.NewRaw(`UPDATE factorials SET result_text = ? WHERE number = ?`, text, n).Exec(ctx)
		return err
	}
	rr.clock.Store(time.Now().UnixNano())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rr.r = &reconciler{
		records: rr.records, lookup: lookup, pub: pub, log: log, metrics: newMetrics(prometheus.NewRegistry()),
		every: time.Hour, pendingAfter: time.Minute, lease: 10 * time.Second,
		now: func() time.Time { return time.Unix(0, rr.clock.Load()).UTC() },
	}
	return rr
}

func (rr *reconcileRig) advance(d time.Duration) { rr.clock.Add(int64(d)) }

// drain runs passes until one finds nothing to do, and sums them.
func (rr *reconcileRig) drain(t *testing.T) passResult {
	t.Helper()
	var total passResult
	for range 100 {
		res, err := rr.r.once(t.Context())
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if res == (passResult{}) {
			return total
		}
		total.republished += res.republished
		total.held += res.held
		total.announced += res.announced
	}
	t.Fatal("the reconciler never ran out of work")
	return total
}

// requestCount is how many requests for n the stream holds.
func (rr *reconcileRig) requestCount(t *testing.T, n int64) uint64 {
	t.Helper()
	st, err := rr.js.Stream(t.Context(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(events.RequestedSubject(n)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[events.RequestedSubject(n)]
}

// A backlog of 10,000 accepted requests, all waiting in the stream, costs the reconciler no
// publish, however long they wait; the requests JetStream has lost (deleted from the stream,
// or acked while their record is still pending or computing) are published again, exactly
// those.
func TestReconcilerRepublishesOnlyWhatIsLost(t *testing.T) {
	rr := newReconcileRig(t)
	ctx := t.Context()
	const backlog = 10_000
	var reqs []database.NewRequest
	var msgs []natsbus.Msg
	for i := range backlog {
		n := int64(i*7 + 1) // both lanes
		reqs = append(reqs, database.NewRequest{Number: n})
		payload, _ := events.Encode(events.Requested{Number: n, RequestedAt: time.Now().UTC()})
		msgs = append(msgs, natsbus.Msg{Subject: events.RequestedSubject(n), Data: payload})
	}
	for i := 0; i < backlog; i += 1000 {
		if _, err := rr.records.RequestBatch(ctx, reqs[i:i+1000], rr.r.now()); err != nil {
			t.Fatal(err)
		}
		// A thousand at a time, as the services publish: 10,000 at once is more than a
		// connection keeps awaiting their acks (4,096), and on a loaded machine the rest ran
		// out of nats.go's wait for room (200 ms) and failed the test before it began.
		if errs, failed := rr.pub.PublishAll(ctx, msgs[i:i+1000]); failed > 0 {
			t.Fatalf("%d publishes failed: %v", failed, natsbus.FirstError(errs))
		}
	}

	rr.advance(2 * time.Minute) // every request is now pending for longer than pendingAfter
	start := time.Now()
	res := rr.drain(t)
	t.Logf("a backlog of %d: %+v in %v", backlog, res, time.Since(start).Round(time.Millisecond))
	if res.republished != 0 || res.held != backlog {
		t.Fatalf("backlog of %d healthy requests: %d republished, %d held; want 0 and %d", backlog, res.republished, res.held, backlog)
	}
	for _, n := range []int64{1, 8, int64((backlog-1)*7 + 1)} {
		if c := rr.requestCount(t, n); c != 1 {
			t.Errorf("%d requests for %d in the stream, want 1", c, n)
		}
	}

	// Lose some: three deleted from the stream (a small one, a large one, the first), and
	// the first two of the small lane delivered and acked while their records stay pending.
	st, err := rr.js.Stream(ctx, events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var lost []int64
	for _, n := range []int64{1, 701, 21001} {
		m, err := st.GetLastMsgForSubject(ctx, events.RequestedSubject(n))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteMsg(ctx, m.Sequence); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, n)
	}
	c, err := rr.js.Consumer(ctx, events.Stream, events.LaneSmall.Durable())
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		_, n, err := events.ParseRequestedSubject(m.Subject())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, n)
	}
	// The first of those claimed by a calculator that died since, while its request is acked
	// (the lane's consumer recreated past it): computing, its heartbeat old.
	if claimed, err := rr.records.ClaimBatch(ctx, lost[3:4], "forgotten", rr.r.now(), rr.r.now()); err != nil || len(claimed) != 1 {
		t.Fatalf("claim %d: %v, %d claimed", lost[3], err, len(claimed))
	}
	// And two of the large lane delivered and not acked: held by a live calculator, not lost
	// (above the ack floor, though the consumer has delivered them).
	cl, err := rr.js.Consumer(ctx, events.Stream, events.LaneLarge.Durable())
	if err != nil {
		t.Fatal(err)
	}
	inFlight, err := cl.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var computing []int64
	for m := range inFlight.Messages() {
		_, n, err := events.ParseRequestedSubject(m.Subject())
		if err != nil {
			t.Fatal(err)
		}
		computing = append(computing, n)
	}
	if len(computing) != 2 || slices.ContainsFunc(computing, func(n int64) bool { return slices.Contains(lost, n) }) {
		t.Fatalf("delivered %v of the large lane, want two not lost already", computing)
	}
	slices.Sort(lost)
	lost = slices.Compact(lost)
	before := map[int64]uint64{}
	for _, n := range lost {
		before[n] = rr.requestCount(t, n)
	}

	rr.advance(2 * time.Minute) // checked two minutes ago: looked at again
	res = rr.drain(t)
	if res.republished != len(lost) || res.held != backlog-len(lost) {
		t.Fatalf("after losing %v: %d republished, %d held; want %d and %d", lost, res.republished, res.held, len(lost), backlog-len(lost))
	}
	for _, n := range lost {
		if c := rr.requestCount(t, n); c != before[n]+1 {
			t.Errorf("%d requests for the lost %d in the stream after reconciling, want %d (published again)", c, n, before[n]+1)
		}
	}
	for _, n := range append(computing, 22) {
		if c := rr.requestCount(t, n); c != 1 || slices.Contains(lost, n) {
			t.Errorf("%d requests for the held %d, want still 1", c, n)
		}
	}
	if got := testutil.ToFloat64(rr.r.metrics.reconciled.WithLabelValues("republished")); got != float64(len(lost)) {
		t.Errorf("republished counted %v, want %d", got, len(lost))
	}
}

// Results whose factorial.computed JetStream never took (the stream was gone) are announced
// once they are pendingAfter old, once; results announced already are not.
func TestReconcilerAnnouncesWhatWasNeverAnnounced(t *testing.T) {
	rr := newReconcileRig(t)
	ctx := t.Context()
	nc, err := nats.Connect(rr.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan events.Computed, 10)
	if _, err := nc.Subscribe(events.SubjectComputed, func(m *nats.Msg) {
		var c events.Computed
		if events.Decode(m.Data, &c) == nil {
			got <- c
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	finish := func(n int64, text string) {
		if _, _, err := rr.records.Request(ctx, n, rr.r.now()); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := rr.records.Claim(ctx, n, "w", rr.r.now(), rr.r.now()); err != nil || !ok {
			t.Fatalf("claim %d: %v", n, err)
		}
		sum := sha256.Sum256([]byte(text))
		if _, err := rr.records.Complete(ctx, n, "w", database.Result{Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)), Text: text}, rr.r.now()); err != nil {
			t.Fatal(err)
		}
	}
	finish(5, "120")
	finish(6, "720")
	finish(7, "5040")
	if err := rr.records.MarkAnnounced(ctx, []int64{6}, rr.r.now()); err != nil {
		t.Fatal(err)
	}
	// 7!'s digits in the row changed since (a bad disk, a stray UPDATE): the API caches an
	// event's digits as they come, so they are not announced but computed again.
	if err := rr.setText(ctx, 7, "5041"); err != nil {
		t.Fatal(err)
	}
	if res := rr.drain(t); res.announced != 0 {
		t.Fatalf("announced %d results younger than pendingAfter", res.announced)
	}
	rr.advance(2 * time.Minute)
	if res := rr.drain(t); res.announced != 1 {
		t.Fatalf("announced %d, want the one owed", res.announced)
	}
	select {
	case c := <-got:
		if c.Number != 5 || c.Text != "120" || c.CreatedAt == nil {
			t.Errorf("announced %+v, want 5! with its digits", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no factorial.computed")
	}
	rec, err := rr.records.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != database.StatusPending || rec.Text != "" || !strings.Contains(rec.Error, "did not match its checksum") {
		t.Errorf("7! with digits unlike its checksum: %s, text %q, error %q; want pending again, saying why", rec.Status, rec.Text, rec.Error)
	}
	if c := rr.requestCount(t, 7); c != 1 {
		t.Errorf("%d requests for 7 in the stream, want 1 (published to compute it again)", c)
	}
	if got := testutil.ToFloat64(rr.r.metrics.reconciled.WithLabelValues("recomputed")); got != 1 {
		t.Errorf("recomputed counted %v, want 1", got)
	}
	select {
	case c := <-got:
		t.Errorf("announced %d as well", c.Number)
	case <-time.After(200 * time.Millisecond):
	}
}

// failingPub is the rig's publisher, failing every message whose id starts with failID.
type failingPub struct {
	*natsbus.Publisher
	failID string
}

func (p failingPub) PublishAll(ctx context.Context, msgs []natsbus.Msg) ([]error, int) {
	errs := make([]error, len(msgs))
	var pass []natsbus.Msg
	var at []int
	failed := 0
	for i, m := range msgs {
		if strings.HasPrefix(m.ID, p.failID) {
			errs[i] = errors.New("injected publish failure")
			failed++
			continue
		}
		pass = append(pass, m)
		at = append(at, i)
	}
	passErrs, passFailed := p.Publisher.PublishAll(ctx, pass)
	for j, err := range passErrs {
		errs[at[j]] = err
	}
	return errs, failed + passFailed
}

// finish records n! as done with text as its digits, announced to no one yet.
func (rr *reconcileRig) finish(t *testing.T, n int64, text string) {
	t.Helper()
	ctx := t.Context()
	if _, _, err := rr.records.Request(ctx, n, rr.r.now()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rr.records.Claim(ctx, n, "w", rr.r.now(), rr.r.now()); err != nil || !ok {
		t.Fatalf("claim %d: %v", n, err)
	}
	sum := sha256.Sum256([]byte(text))
	if _, err := rr.records.Complete(ctx, n, "w", database.Result{Checksum: hex.EncodeToString(sum[:]), Size: int64(len(text)), Digits: int64(len(text)), Text: text}, rr.r.now()); err != nil {
		t.Fatal(err)
	}
}

// A row sent to be computed again (its digits no longer match) is not published: the marks
// that follow still go to the rows whose announcement JetStream took, and only to those.
func TestAnnounceMarksTheRowsItPublished(t *testing.T) {
	rr := newReconcileRig(t)
	ctx := t.Context()
	rr.finish(t, 4, "24") // corrupted below: first of the rows owed
	rr.finish(t, 5, "120")
	rr.finish(t, 6, "720")
	if err := rr.setText(ctx, 4, "25"); err != nil {
		t.Fatal(err)
	}
	rr.r.pub = failingPub{Publisher: rr.pub, failID: "computed/5/"}
	rr.advance(2 * time.Minute)
	if got, err := rr.r.announce(ctx); err != nil || got != 1 {
		t.Fatalf("announce: %d, %v; want 1 (6!), no error", got, err)
	}
	for n, want := range map[int64]bool{5: true, 6: false} {
		rec, err := rr.records.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Unannounced != want {
			t.Errorf("%d!: unannounced %v, want %v", n, rec.Unannounced, want)
		}
	}
}

// A pass whose only owed results are rows sent to be computed again has nothing to publish:
// that is no error, and the pass goes on to republish what the stream lost.
func TestAnnounceWithOnlyRecomputedRowsStillRepublishes(t *testing.T) {
	rr := newReconcileRig(t)
	ctx := t.Context()
	rr.finish(t, 4, "24")
	if err := rr.setText(ctx, 4, "25"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rr.records.Request(ctx, 9, rr.r.now()); err != nil { // never published: lost
		t.Fatal(err)
	}
	rr.advance(2 * time.Minute)
	res, err := rr.r.once(ctx)
	if err != nil {
		t.Fatalf("a pass with only a recomputed row owed: %v", err)
	}
	if res.republished != 1 {
		t.Errorf("republished %d, want 1 (9, lost)", res.republished)
	}
}

// The id of a factorial.computed names one completion: announcing the same completion again
// (the reconciler after a lost mark) is dropped by JetStream as a duplicate, while a
// recomputation of n with the same digits inside the duplicate window is a new event.
func TestComputedIDDedupesACompletionNotARecomputation(t *testing.T) {
	rr := newReconcileRig(t)
	ctx := t.Context()
	publish := func(rec database.Record) {
		t.Helper()
		m, err := computedMsg(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := rr.pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	count := func() uint64 {
		t.Helper()
		st, err := rr.js.Stream(ctx, events.Stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.SubjectComputed))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[events.SubjectComputed]
	}

	rr.finish(t, 5, "120")
	first, err := rr.records.Get(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	publish(first)
	publish(first) // the reconciler announcing the same completion again
	if c := count(); c != 1 {
		t.Fatalf("%d factorial.computed for one completion announced twice, want 1", c)
	}

	rr.advance(time.Second)
	if _, reset, err := rr.records.Recompute(ctx, 5, first.Checksum, "computing it again", rr.r.now()); err != nil || !reset {
		t.Fatalf("recompute: %v, %v", reset, err)
	}
	if _, ok, err := rr.records.Claim(ctx, 5, "w", rr.r.now(), rr.r.now()); err != nil || !ok {
		t.Fatalf("claim again: %v, %v", ok, err)
	}
	rr.advance(time.Second)
	second, err := rr.records.Complete(ctx, 5, "w", database.Result{Checksum: first.Checksum, Size: 3, Digits: 3, Text: "120"}, rr.r.now())
	if err != nil {
		t.Fatal(err)
	}
	publish(second)
	if c := count(); c != 2 {
		t.Errorf("%d factorial.computed after 5! was computed again with the same digits, want 2", c)
	}
}
