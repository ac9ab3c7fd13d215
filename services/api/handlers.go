package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/serve"
)

// factorialJSON is the resource of GET and POST /api/v1/factorial.
type factorialJSON struct {
	Number          int64     `json:"number"`
	Status          string    `json:"status"`
	Progress        *float64  `json:"progress,omitempty"`
	FactorialResult *string   `json:"factorial_result,omitempty"`
	ResultURL       string    `json:"result_url,omitempty"`
	Digits          int64     `json:"digits,omitempty"`
	Size            int64     `json:"size,omitempty"`
	Checksum        string    `json:"checksum,omitempty"`
	Error           string    `json:"error,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// metadataJSON is the resource of GET /api/v1/factorial/metadata.
type metadataJSON struct {
	Number      int64      `json:"number"`
	Status      string     `json:"status"`
	Progress    float64    `json:"progress"`
	Attempts    int        `json:"attempts"`
	S3Key       string     `json:"s3_key,omitempty"`
	Bucket      string     `json:"bucket,omitempty"`
	Checksum    string     `json:"checksum,omitempty"`
	Size        int64      `json:"size,omitempty"`
	Digits      int64      `json:"digits,omitempty"`
	ComputeMS   *int64     `json:"compute_ms,omitempty"` // when done, 0 included (as in a listing's item)
	Error       string     `json:"error,omitempty"`
	ResultURL   string     `json:"result_url,omitempty"`
	DownloadURL string     `json:"download_url,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	RequestedAt time.Time  `json:"requested_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	ComputedAt  *time.Time `json:"computed_at,omitempty"`
}

func resultURL(n int64) string { return fmt.Sprintf("/api/v1/factorial/%d?format=text", n) }

func toFactorialJSON(res result) factorialJSON {
	rec := res.Record
	out := factorialJSON{
		Number: rec.Number, Status: string(rec.Status), Error: rec.Error,
		CreatedAt: rec.CreatedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(),
	}
	switch rec.Status {
	case database.StatusDone:
		one := 1.0
		out.Progress, out.FactorialResult = &one, res.Text
		out.ResultURL, out.Digits, out.Size, out.Checksum = resultURL(rec.Number), rec.Digits, rec.Size, rec.Checksum
	case database.StatusPending, database.StatusComputing:
		p := rec.Progress
		out.Progress = &p
	}
	return out
}

// postFactorial records a request: 202 while it is pending or computing, 200 when done.
func (s *Service) postFactorial(c echo.Context) error {
	req := c.Request()
	if err := noQuery(req.URL.RawQuery); err != nil {
		return err
	}
	if _, ok := negotiate(req.Header.Get(echo.HeaderAccept), mediaJSON); !ok {
		return notAcceptable(mediaJSON)
	}
	n, err := readNumberRequest(req, s.cfg.MaxNumber)
	if err != nil {
		if n > s.cfg.MaxNumber { // MAX_NUMBER limits what is computed, not what is served
			if res, gerr := s.results.get(req.Context(), n, s.cfg.InlineResultMaxBytes); gerr == nil && res.Record.Status == database.StatusDone {
				return c.JSON(http.StatusOK, toFactorialJSON(res))
			}
		}
		return err
	}
	ctx, cancel := context.WithTimeout(req.Context(), dbWait)
	defer cancel()
	rec, err := s.results.request(ctx, n, clientID(req))
	if err != nil {
		return err
	}
	if rec.Status == database.StatusDone {
		res, err := s.results.get(req.Context(), n, s.cfg.InlineResultMaxBytes)
		if err != nil {
			return err
		}
		if res.Record.Status == database.StatusDone {
			return c.JSON(http.StatusOK, toFactorialJSON(res))
		}
		// Its digits did not match the record: it went back to be computed, and is answered
		// as any request waiting for its result.
		rec = res.Record
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/factorial/%d", n))
	return c.JSON(http.StatusAccepted, toFactorialJSON(result{Record: rec}))
}

// notAcceptable is the 406 of a resource served only as the given media types.
func notAcceptable(types ...string) *Problem {
	return problem(http.StatusNotAcceptable, "this resource is served as %s; send an Accept header that allows it (or */*)",
		strings.Join(types, " or "))
}

func notRequested(n, maxNumber int64) error {
	if n > maxNumber {
		return problem(http.StatusNotFound, "%d! was never requested, and this server computes n up to %d", n, maxNumber)
	}
	return problem(http.StatusNotFound, "%d! was never requested; POST {\"number\": %d} to /api/v1/factorial first", n, n)
}

// getFactorial answers with the result (JSON or text), or its status while it is not done.
// JSON and text are negotiated with Accept (q-values honoured) unless format= chooses.
func (s *Service) getFactorial(c echo.Context) error {
	req := c.Request()
	c.Response().Header()[echo.HeaderVary] = hdrVary
	n, err := pathNumber(c.Param("number"), s.cfg.MaxNumber)
	if err != nil {
		return err
	}
	q, err := parseFactorialQuery(req.URL.RawQuery)
	if err != nil {
		return err
	}
	text := q.format == "text"
	if q.format == "" {
		media, ok := negotiate(headerValue(req.Header, echo.HeaderAccept), mediaJSON, mediaText)
		if !ok {
			return notAcceptable(mediaJSON, mediaText)
		}
		text = media == mediaText
	}
	e := s.results.local(n) // finished and known here: no cache, no database
	if e != nil && !text && e.json != nil {
		return writeJSON(c, e.json, e.jsonLength) // nothing to log: the request id stays out of the context
	}
	if e != nil && text {
		return s.streamText(c, e.rec, e.text, q.download) // puts the request id in its context if it needs it
	}
	ctx := withRequestID(c)
	inlineMax := s.cfg.InlineResultMaxBytes
	if text {
		inlineMax = -1 // the digits are streamed, not inlined
	}
	// A waiting request listens before it reads, so that a change landing between the read
	// and the wait is not missed, and one read is enough.
	var changes <-chan change
	if q.wait > 0 {
		var stop func()
		changes, stop = s.broker.watch(n)
		defer stop()
	}
	res, err := s.results.get(ctx, n, inlineMax)
	if errors.Is(err, errNotFound) {
		return notRequested(n, s.cfg.MaxNumber)
	}
	if err != nil {
		return err
	}
	if q.wait > 0 && !finished(res.Record.Status) {
		release, err := take(s.limits.waiters, "waiting requests", 1)
		if err != nil {
			return err
		}
		defer release()
		writeDeadline(c, q.wait+serve.WriteTimeout)
		if res, err = s.waitFor(c, n, changes, q.wait, inlineMax); err != nil {
			return err
		}
		// Done, and the event follower has just rendered the answer in this process (the
		// usual case): it is written as it is, without cache, database or encoding.
		if e := res.hot; e != nil {
			if text {
				return s.streamText(c, e.rec, e.text, q.download)
			}
			if e.json != nil {
				return writeJSON(c, e.json, e.jsonLength)
			}
		}
	}
	if text && res.Record.Status == database.StatusDone {
		return s.streamText(c, res.Record, nil, q.download)
	}
	return s.answer(c, res)
}

// answer writes the JSON of a result: 200 when done, failed or cancelled, 202 while it is
// pending or computing.
func (s *Service) answer(c echo.Context, res result) error {
	if finished(res.Record.Status) {
		return c.JSON(http.StatusOK, toFactorialJSON(res))
	}
	c.Response().Header().Set("Retry-After", "1")
	return c.JSON(http.StatusAccepted, toFactorialJSON(res))
}

func finished(s database.Status) bool {
	return s == database.StatusDone || s == database.StatusFailed || s == database.StatusCancelled
}

// waitFor holds the request until n is computed, failed or cancelled (changes, from
// broker.watch before n was read, says when), or wait runs out. When n is done and the
// process's own cache has its answer, the result carries that entry (hot); otherwise n is
// read again.
func (s *Service) waitFor(c echo.Context, n int64, changes <-chan change, wait time.Duration, inlineMax int64) (result, error) {
	ctx := c.Request().Context()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-s.streams.done:
			// Shutting down: answer with what is known now (202 and Retry-After: the client
			// asks again, of a replica still running) rather than hold the shutdown.
			return s.results.get(ctx, n, inlineMax)
		case <-timer.C:
			// Read once more: a change this replica missed (a full buffer, an event before it
			// followed the stream) must not turn a finished result into a 202.
			return s.results.get(ctx, n, inlineMax)
		case ch := <-changes:
			if ch.Number != n {
				continue
			}
			switch ch.Kind {
			case kindComputed:
				if e := s.results.local(n); e != nil && (inlineMax < 0 || e.json != nil) {
					return result{Record: e.rec, Row: e.row, hot: e}, nil
				}
				return s.results.get(ctx, n, inlineMax)
			case kindFailed, kindCancelled:
				return s.results.get(ctx, n, inlineMax)
			}
		}
	}
}

// getMetadata answers with everything known about n except its digits.
func (s *Service) getMetadata(c echo.Context) error {
	req := c.Request()
	n, err := pathNumber(c.Param("number"), s.cfg.MaxNumber)
	if err != nil {
		return err
	}
	if err := noQuery(req.URL.RawQuery); err != nil {
		return err
	}
	if _, ok := negotiate(headerValue(req.Header, echo.HeaderAccept), mediaJSON); !ok {
		return notAcceptable(mediaJSON)
	}
	if e := s.results.local(n); e != nil && e.meta != nil {
		return writeJSON(c, e.meta, e.metaLength) // nothing to log: the request id stays out of the context
	}
	ctx := withRequestID(c)
	rec, err := s.results.row(ctx, n)
	if errors.Is(err, errNotFound) {
		return notRequested(n, s.cfg.MaxNumber)
	}
	if err != nil {
		return err
	}
	out := toMetadataJSON(rec)
	if rec.Status == database.StatusDone {
		if p, ok := s.store.(objectstore.Presigner); ok {
			if url, err := p.PresignGet(ctx, rec.Key, time.Hour); err == nil {
				out.DownloadURL = url
			}
		}
	}
	return c.JSON(http.StatusOK, out)
}

// toMetadataJSON is the metadata of a record (without download_url, which is made per request).
func toMetadataJSON(rec database.Record) metadataJSON {
	out := metadataJSON{
		Number: rec.Number, Status: string(rec.Status), Progress: rec.Progress, Attempts: rec.Attempts,
		S3Key: rec.Key, Bucket: rec.Bucket, Checksum: rec.Checksum, Size: rec.Size, Digits: rec.Digits,
		Error:     rec.Error,
		CreatedAt: rec.CreatedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(), RequestedAt: rec.RequestedAt.UTC(),
		StartedAt: utc(rec.StartedAt), ComputedAt: utc(rec.ComputedAt),
	}
	if rec.Status == database.StatusDone {
		ms := rec.ComputeMS
		out.ResultURL, out.ComputeMS = resultURL(rec.Number), &ms
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
