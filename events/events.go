// Package events holds the contracts of the factorial service's events: the JetStream stream,
// its subjects and durable consumers, the payload types and their JSON Schemas, and the cost
// model that sorts requests into lanes. Outside subscribers can import it to read
// factorial.computed without depending on anything else of the service.
package events

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stream is the JetStream stream that carries every factorial event.
const Stream = "FACTORIAL"

// Subjects of the stream.
//
// Requests go to one subject per lane and number, factorial.requested.<lane>.<n>: the lane
// lets each cost class have its own durable consumer, and the number lets the reconciler ask
// the stream for the last request of n (see RequestedSubject).
const (
	SubjectAll        = "factorial.>"
	SubjectRequested  = "factorial.requested" // prefix of factorial.requested.<lane>.<n>
	SubjectComputed   = "factorial.computed"
	SubjectFailed     = "factorial.failed"
	SubjectProgress   = "factorial.progress"
	SubjectCancelled  = "factorial.cancelled"
	SubjectDeadLetter = "factorial.deadletter" // requests that can never be computed, with HeaderReason
)

// Headers of a dead letter: why it was set aside, and the subject it was published on.
// Its payload is the original payload, unchanged.
const (
	HeaderReason  = "Factorial-Dead-Letter-Reason"
	HeaderSubject = "Factorial-Original-Subject"
)

// Lane is a cost class of requests. Every calculator replica serves both lanes, each with
// its own durable consumer and its own processing slots, so small work never waits behind
// large work.
type Lane string

// The two lanes.
const (
	LaneSmall Lane = "small"
	LaneLarge Lane = "large"
)

// Lanes lists the lanes, small first.
var Lanes = []Lane{LaneSmall, LaneLarge}

// SmallMaxNumber is the largest n of the small lane. Chosen by measurement: the engine
// computes 20,000! (77,338 digits) in under a millisecond, warm, on the 2-core development
// machine (0.8 to 0.9 ms; 100,000! takes 6 ms), so a batch of 128 small requests takes at
// most about 110 ms, each result recorded and announced as it goes. A higher bound
// would let one batch hold a small request longer; the results of the small lane also mostly
// fit their database row (RESULT_ROW_MAX_BYTES, 64 KiB: n up to 17,235).
const SmallMaxNumber = 20_000

// LaneOf is the lane of n.
func LaneOf(n int64) Lane {
	if n <= SmallMaxNumber {
		return LaneSmall
	}
	return LaneLarge
}

// Filter is the subject filter of the lane's durable consumer: factorial.requested.<lane>.>.
func (l Lane) Filter() string { return SubjectRequested + "." + string(l) + ".>" }

// Durable is the name of the lane's durable consumer, shared by every calculator replica:
// calculator-small, calculator-large.
func (l Lane) Durable() string { return "calculator-" + string(l) }

// Valid reports whether l is one of the lanes.
func (l Lane) Valid() bool { return l == LaneSmall || l == LaneLarge }

// RequestedSubject is the subject a request for n is published on:
// factorial.requested.<lane of n>.<n>.
func RequestedSubject(n int64) string {
	return fmt.Sprintf("%s.%s.%d", SubjectRequested, LaneOf(n), n)
}

// ParseRequestedSubject reads the lane and the number of factorial.requested.<lane>.<n>.
// The number must be written as RequestedSubject writes it (no sign, no leading zero) and
// belong to that lane.
func ParseRequestedSubject(subject string) (Lane, int64, error) {
	rest, ok := strings.CutPrefix(subject, SubjectRequested+".")
	lane, num, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", 0, fmt.Errorf("subject %q is not %s.<lane>.<n>", subject, SubjectRequested)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case !Lane(lane).Valid():
		return "", 0, fmt.Errorf("subject %q names no lane (small or large)", subject)
	case err != nil || n < 0 || strconv.FormatInt(n, 10) != num:
		return "", 0, fmt.Errorf("subject %q does not end with a number", subject)
	case LaneOf(n) != Lane(lane):
		return "", 0, fmt.Errorf("subject %q: %d belongs to lane %s", subject, n, LaneOf(n))
	}
	return Lane(lane), n, nil
}

// Cost estimates how long the engine takes to compute n! and write its digits, on one
// calculator (the engine uses every core it has): the work grows about like n·log²n (a
// product tree of NTT multiplications). It is a pure function, so the API (admission) and
// the calculators agree on it without talking.
//
// Calibrated by measurement on the 2-core development machine (AMD EPYC Zen 5, Go 1.26,
// load average about 3): factorial.Write to io.Discard, warm, the best of 3 runs (2 above
// 10^7), and factorial.AppendText for n ≤ 20,000, divided by n·log₂²n:
//
//	n        time      ns per n·log₂²n
//	2·10^4   0.89 ms   0.22
//	10^5     5.8 ms    0.21
//	10^6     60 ms     0.15
//	3·10^6   203 ms    0.15
//	10^7     0.76 s    0.14
//	3·10^7   2.7 s     0.15
//	3.5·10^7 9.6 s     0.44
//	5·10^7   13.8 s    0.42
//	10^8     32.6 s    0.46
//
// From 10^6 to 3·10^7 one coefficient, 0.15 ns, is within 10%; above 3·10^7 the engine's last
// squarings no longer fit its arena whole and go in blocks, three times slower per unit of
// work. Small n come out up to a third short, which admission (large requests only) never
// sees. Storing the digits (streamed while they are computed) and reading them back to verify
// them add a little (about 0.1 s for the 65.7 MB of 10^7!). Measure again with a loop over
// factorial.Write when the engine changes.
func Cost(n int64) time.Duration {
	if n < 2 {
		return time.Microsecond
	}
	lg := math.Log2(float64(n))
	ns := 0.15 * float64(n) * lg * lg
	if n > costBlockedAbove {
		ns *= 3
	}
	return max(time.Duration(ns), time.Microsecond)
}

// costBlockedAbove is where the engine's last squarings start to go in blocks (see Cost).
const costBlockedAbove = 30_000_000

// StatusDone is the only status a Computed event carries.
const StatusDone = "done"

// Requested asks for n! to be computed. Its subject is RequestedSubject(Number).
type Requested struct {
	Number      int64     `json:"number"`
	RequestedAt time.Time `json:"requested_at"`
}

// Validate checks what the JSON types cannot.
func (r Requested) Validate() error {
	if r.Number < 0 {
		return fmt.Errorf("number %d is negative", r.Number)
	}
	return nil
}

// Computed announces that n! is stored and verified.
type Computed struct {
	Number     int64     `json:"number"`
	Status     string    `json:"status"`
	Key        string    `json:"key"`      // object key of the decimal text; "" when Text carries it
	Bucket     string    `json:"bucket"`   // S3 bucket, or "" for local and memory stores
	Checksum   string    `json:"checksum"` // hex SHA-256 of the decimal text
	Size       int64     `json:"size"`     // bytes of the decimal text
	Digits     int64     `json:"digits"`
	ComputeMS  int64     `json:"compute_ms"`
	ComputedAt time.Time `json:"computed_at"`
	// Text is the decimal text itself when it is small enough to live in the database row
	// (see the README): subscribers need no read to have it.
	Text string `json:"text,omitempty"`
	// CreatedAt is when n was first requested.
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// Validate checks what the JSON types cannot.
func (c Computed) Validate() error {
	switch {
	case c.Number < 0:
		return fmt.Errorf("number %d is negative", c.Number)
	case c.Status != StatusDone:
		return fmt.Errorf("status %q is not %q", c.Status, StatusDone)
	case c.Key == "" && c.Text == "":
		return errors.New("neither key nor text says where the digits are")
	case c.Text != "" && int64(len(c.Text)) != c.Size:
		return fmt.Errorf("text has %d bytes, size says %d", len(c.Text), c.Size)
	}
	return nil
}

// Failed announces that n! could not be computed after Attempts deliveries.
type Failed struct {
	Number   int64     `json:"number"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
}

// Validate checks what the JSON types cannot.
func (f Failed) Validate() error {
	if f.Number < 0 {
		return fmt.Errorf("number %d is negative", f.Number)
	}
	return nil
}

// Progress tells how far the computation of n! is, about once a second while it runs.
type Progress struct {
	Number   int64     `json:"number"`
	Progress float64   `json:"progress"` // 0 to 1, never decreasing for one computation
	At       time.Time `json:"at"`
}

// Validate checks what the JSON types cannot.
func (p Progress) Validate() error {
	switch {
	case p.Number < 0:
		return fmt.Errorf("number %d is negative", p.Number)
	case !(p.Progress >= 0 && p.Progress <= 1):
		return fmt.Errorf("progress %v is not between 0 and 1", p.Progress)
	}
	return nil
}

// Cancelled announces that the request for n was cancelled (DELETE /api/v1/factorial/{n})
// while it was pending or computing: the calculator computing it stops, and requesting n
// again starts anew.
type Cancelled struct {
	Number      int64     `json:"number"`
	CancelledAt time.Time `json:"cancelled_at"`
}

// Validate checks what the JSON types cannot.
func (c Cancelled) Validate() error {
	if c.Number < 0 {
		return fmt.Errorf("number %d is negative", c.Number)
	}
	return nil
}
