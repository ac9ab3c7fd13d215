// Package load is the project's own load generator: many HTTP clients asking the API for
// factorials, each POSTing a number and then (optionally) waiting for it with GET ?wait,
// with the latency of every request and the count of every answer. make bench-load
// (cmd/bench-load) and the integration suite's load under faults use it.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options of a run.
type Options struct {
	Clients int           // clients asking at once
	Wait    bool          // each POST is followed by GET ?wait until the number is done
	Retry   bool          // an API that does not answer (restarting) or answers 503 with Retry-After is asked again
	Timeout time.Duration // the whole run's bound
	// Posted, when not nil, counts the POSTs answered, as they are: a test injects its faults
	// at points of the run.
	Posted *atomic.Int64
	// Timeline keeps when each number was POSTed, answered and seen done (Result.Times).
	Timeline bool
}

// Times are when one number was POSTed, its POST answered, and its done answer received.
type Times struct {
	N                      int64
	Posted, Answered, Done time.Time
}

// Result is what a run saw.
type Result struct {
	Numbers     int           // numbers asked for
	Done        int           // numbers seen done (with Wait)
	Elapsed     time.Duration // from the first request to the last answer
	POST        Latencies
	GET         Latencies
	ToDone      Latencies   // with Wait: from a number's POST to its done answer
	Statuses    map[int]int // answers by status, POST and GET together
	Refused     int         // requests that got no answer (the API was down) and were asked again
	Unavailable int         // 503 answers asked again
	Errors      []string    // what went wrong, at most a few
	Times       []Times     // with Options.Timeline, of each number seen done
}

// ResultsPerSecond is Done (or Numbers without Wait) per second of Elapsed.
func (r Result) ResultsPerSecond() float64 {
	n := r.Done
	if n == 0 {
		n = r.Numbers
	}
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Elapsed.Seconds()
}

// Latencies are request durations.
type Latencies []time.Duration

// P is the q-quantile (0.5, 0.99) of l; 0 when l is empty.
func (l Latencies) P(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// Run asks the APIs at bases (round robin per request) for numbers, Options.Clients at a
// time, each number once, in the order given.
func Run(ctx context.Context, bases []string, numbers []int64, o Options) Result {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	transport := &http.Transport{MaxIdleConnsPerHost: o.Clients, DisableCompression: true}
	defer transport.CloseIdleConnections()
	a := &asker{client: &http.Client{Transport: transport, Timeout: 70 * time.Second}, retry: o.Retry}

	res := Result{Numbers: len(numbers), Statuses: map[int]int{}}
	var (
		mu   sync.Mutex
		next atomic.Int64
		done atomic.Int64
		wg   sync.WaitGroup
	)
	note := func(kind string, status int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, err.Error())
			}
			return
		}
		res.Statuses[status]++
		if kind == "POST" {
			res.POST = append(res.POST, took)
		} else {
			res.GET = append(res.GET, took)
		}
	}
	start := time.Now()
	for c := range o.Clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(numbers)) {
					return
				}
				n := numbers[i]
				began := time.Now()
				base := bases[(int(i)+c)%len(bases)]
				body := fmt.Sprintf(`{"number": %d}`, n)
				status, took, err := a.ask(ctx, http.MethodPost, base+"/api/v1/factorial", body)
				answered := time.Now()
				note("POST", status, took, err)
				if o.Posted != nil {
					o.Posted.Add(1)
				}
				if err != nil || !o.Wait {
					continue
				}
				for ctx.Err() == nil {
					base := bases[(int(i)+c)%len(bases)]
					status, took, err = a.ask(ctx, http.MethodGet, base+"/api/v1/factorial/"+strconv.FormatInt(n, 10)+"?wait=30s", "")
					note("GET", status, took, err)
					if err != nil || status != http.StatusAccepted {
						break
					}
				}
				if err == nil && status == http.StatusOK {
					done.Add(1)
					mu.Lock()
					res.ToDone = append(res.ToDone, time.Since(began))
					if o.Timeline {
						res.Times = append(res.Times, Times{N: n, Posted: began, Answered: answered, Done: time.Now()})
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Done = int(done.Load())
	res.Refused = int(a.refused.Load())
	res.Unavailable = int(a.unavailable.Load())
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("stopped after %v: %v", res.Elapsed.Round(time.Millisecond), ctx.Err()))
	}
	return res
}

// asker makes requests; with retry, an API that does not answer (restarting) or answers 503
// with Retry-After is asked again, after a pause (503: its Retry-After, at most a second).
type asker struct {
	client      *http.Client
	retry       bool
	refused     atomic.Int64 // requests that got no answer
	unavailable atomic.Int64 // 503s asked again
}

// ask returns the status of the last answer and how long that request took.
func (a *asker) ask(ctx context.Context, method, url, body string) (int, time.Duration, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		resp, err := a.client.Do(req)
		took := time.Since(start)
		if err != nil {
			if a.retry && ctx.Err() == nil && unanswered(err) {
				a.refused.Add(1)
				pause(ctx, 50*time.Millisecond)
				continue
			}
			return 0, took, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// A 503 is asked again only as it documents itself, with Retry-After; one without is
		// an answer (and a failure of the run).
		if a.retry && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && ctx.Err() == nil {
			a.unavailable.Add(1)
			after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			pause(ctx, min(time.Duration(max(after, 0))*time.Second, time.Second)+20*time.Millisecond)
			continue
		}
		return resp.StatusCode, took, nil
	}
}

// unanswered reports whether err means the API did not answer (down, restarting).
func unanswered(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "server closed")
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
