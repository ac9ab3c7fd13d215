package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/natsbus"
	"github.com/factorial-service/factorial/platform/telemetry"
)

// Listing and cancelling: GET /api/v1/factorial and DELETE /api/v1/factorial/{number}.

// Bounds of a listing.
const (
	listDefaultLimit = 50
	listMaxLimit     = 200
)

// itemJSON is one request in a listing: what GET /api/v1/factorial/{number} says, without
// the digits, with the timing of the metadata.
type itemJSON struct {
	Number      int64      `json:"number"`
	Status      string     `json:"status"`
	Progress    float64    `json:"progress"`
	Attempts    int        `json:"attempts"`
	ResultURL   string     `json:"result_url,omitempty"`
	Digits      int64      `json:"digits,omitempty"`
	Size        int64      `json:"size,omitempty"`
	Checksum    string     `json:"checksum,omitempty"`
	ComputeMS   *int64     `json:"compute_ms,omitempty"`
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	RequestedAt time.Time  `json:"requested_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	ComputedAt  *time.Time `json:"computed_at,omitempty"`
}

type listJSON struct {
	Items      []itemJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func toItemJSON(rec database.Record) itemJSON {
	out := itemJSON{
		Number: rec.Number, Status: string(rec.Status), Progress: rec.Progress, Attempts: rec.Attempts,
		Error: rec.Error, CreatedAt: rec.CreatedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(),
		RequestedAt: rec.RequestedAt.UTC(), StartedAt: utc(rec.StartedAt),
	}
	if rec.Status == database.StatusDone {
		ms := rec.ComputeMS
		out.ResultURL, out.Digits, out.Size, out.Checksum, out.ComputeMS = resultURL(rec.Number), rec.Digits, rec.Size, rec.Checksum, &ms
		out.ComputedAt = utc(rec.ComputedAt)
	}
	return out
}

// listFactorials lists the requests, newest first (by when each number was first asked),
// optionally of some statuses only, a page at a time.
func (s *Service) listFactorials(c echo.Context) error {
	req := c.Request()
	q, err := parseListQuery(req.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, ok := negotiate(req.Header.Get(echo.HeaderAccept), mediaJSON); !ok {
		return notAcceptable(mediaJSON)
	}
	ctx, cancel := context.WithTimeout(req.Context(), dbWait)
	defer cancel()
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	recs, err := s.records.List(ctx, q)
	if database.Unavailable(err) {
		return &unavailableError{what: "the database", err: err}
	}
	if err != nil {
		return fmt.Errorf("list factorials: %w", err)
	}
	out := listJSON{Items: make([]itemJSON, 0, min(len(recs), limit))}
	for i, rec := range recs {
		if i == limit {
			out.NextCursor = encodeCursor(database.CursorOf(recs[i-1]))
			break
		}
		out.Items = append(out.Items, toItemJSON(rec))
	}
	return c.JSON(http.StatusOK, out)
}

const listQueryHint = "this resource takes status (pending, computing, done, failed, cancelled; several separated by commas), " +
	"limit (1 to 200) and cursor (the next_cursor of the page before)"

// parseListQuery reads the query of GET /api/v1/factorial: status, limit and cursor, each at
// most once; any other parameter is refused.
func parseListQuery(rawQuery string) (database.ListQuery, error) {
	q := database.ListQuery{Limit: listDefaultLimit}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, problem(http.StatusBadRequest, "the query is malformed; %s", listQueryHint)
	}
	for name, vs := range values {
		if len(vs) > 1 {
			return q, problem(http.StatusBadRequest, "query parameter %s is given more than once; %s", clip(name), listQueryHint)
		}
		switch v := vs[0]; name {
		case "status":
			for _, part := range strings.Split(v, ",") {
				st := database.Status(part)
				if !st.Valid() {
					return q, problem(http.StatusBadRequest, "status %s is not one of pending, computing, done, failed, cancelled (several separated by commas)", clip(part))
				}
				if !slices.Contains(q.Statuses, st) {
					q.Statuses = append(q.Statuses, st)
				}
			}
		case "limit":
			n, err := parseNumber(v)
			if err != nil || n < 1 || n > listMaxLimit {
				return q, problem(http.StatusBadRequest, "limit %s is not an integer from 1 to %d", clip(v), listMaxLimit)
			}
			q.Limit = int(n)
		case "cursor":
			c, ok := decodeCursor(v)
			if !ok {
				return q, problem(http.StatusBadRequest, "cursor %s is not one this server gave: send the next_cursor of a page, or no cursor to start with the newest", clip(v))
			}
			q.After = &c
		default:
			return q, problem(http.StatusBadRequest, "unknown query parameter %s; %s", clip(name), listQueryHint)
		}
	}
	return q, nil
}

// A cursor is the last row's created_at (microseconds since 1970) and number, "<µs>.<n>",
// in unpadded base64url: opaque to clients, who send back what they were given.
func encodeCursor(c database.Cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%d", c.CreatedAt.UnixMicro(), c.Number))
}

func decodeCursor(s string) (database.Cursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 64 {
		return database.Cursor{}, false
	}
	micros, num, ok := strings.Cut(string(raw), ".")
	us, err1 := parseNumber(micros)
	n, err2 := parseNumber(num)
	if !ok || err1 != nil || err2 != nil {
		return database.Cursor{}, false
	}
	return database.Cursor{CreatedAt: time.UnixMicro(us).UTC(), Number: n}, true
}

// cancelFactorial cancels a pending or computing request: its record becomes cancelled (the
// calculator computing it loses its claim) and factorial.cancelled tells every calculator
// and API replica at once. Cancelling a cancelled request again answers the same 200; a done
// or failed one is 409, since there is nothing left to cancel. POSTing n later starts anew.
func (s *Service) cancelFactorial(c echo.Context) error {
	req := c.Request()
	n, err := pathNumber(c.Param("number"), s.cfg.MaxNumber)
	if err != nil {
		return err
	}
	if err := noQuery(req.URL.RawQuery); err != nil {
		return err
	}
	if _, ok := negotiate(req.Header.Get(echo.HeaderAccept), mediaJSON); !ok {
		return notAcceptable(mediaJSON)
	}
	ctx, cancel := context.WithTimeout(req.Context(), dbWait)
	defer cancel()
	rec, cancelled, err := s.records.Cancel(ctx, n, time.Now().UTC())
	if errors.Is(err, database.ErrNotFound) {
		return notRequested(n, s.cfg.MaxNumber)
	}
	if err != nil {
		return dbError(n, err)
	}
	switch {
	case cancelled:
		s.announceCancelled(req.Context(), rec)
	case rec.Status == database.StatusDone:
		return problem(http.StatusConflict, "%d! is already computed; there is nothing to cancel", n)
	case rec.Status == database.StatusFailed:
		return problem(http.StatusConflict, "%d! already failed; there is nothing to cancel (POST it to try again)", n)
	}
	return c.JSON(http.StatusOK, toFactorialJSON(result{Record: rec}))
}

// cancelPublishTimeout bounds the wait for JetStream to take a factorial.cancelled: the
// record is already cancelled, and without the event the computation stops at its next
// heartbeat anyway.
const cancelPublishTimeout = time.Second

// announceCancelled publishes factorial.cancelled for a record just cancelled.
func (s *Service) announceCancelled(ctx context.Context, rec database.Record) {
	payload, err := events.Encode(events.Cancelled{Number: rec.Number, CancelledAt: rec.UpdatedAt.UTC()})
	if err == nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelPublishTimeout)
		defer cancel()
		errs, _ := s.publisher.pub.PublishAll(pctx, []natsbus.Msg{{
			Subject: events.SubjectCancelled, Data: payload, Header: telemetry.Headers(ctx),
			ID: "cancelled/" + strconv.FormatInt(rec.Number, 10) + "/" + strconv.FormatInt(rec.UpdatedAt.UnixMicro(), 10),
		}})
		err = natsbus.FirstError(errs)
	}
	if err != nil {
		s.metrics.publishFailures.WithLabelValues("cancelled").Inc()
		s.log.WarnContext(ctx, "publish factorial.cancelled; the computation stops at its next heartbeat", "number", rec.Number, "err", err)
	}
}
