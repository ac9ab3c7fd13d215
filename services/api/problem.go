package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/database"
)

// Problem is an RFC 9457 problem details document. It is also the error type handlers
// return for anything the client must fix or wait for.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`

	header http.Header // sent with the problem (Retry-After, Content-Range, …)
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// With adds a header to send with the problem.
func (p *Problem) With(name, value string) *Problem {
	if p.header == nil {
		p.header = http.Header{}
	}
	p.header.Set(name, value)
	return p
}

// problem builds a Problem whose title is the status text.
func problem(status int, format string, args ...any) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...)}
}

// unavailable is the answer when a dependency does not answer in time: 503, try again later.
func unavailable(what string, retryAfter int) *Problem {
	return problem(http.StatusServiceUnavailable, "%s; try again in %d s", what, retryAfter).
		With("Retry-After", strconv.Itoa(retryAfter))
}

// statusClientClosedRequest is what a request whose client went away is counted as (nginx's
// 499): not an error of ours, and nothing is written.
const statusClientClosedRequest = 499

// errorHandler writes every error as application/problem+json. The one table of what an
// error means to a client:
//
//   - *Problem: as built by the handler (4xx the client must fix, 503 with Retry-After);
//   - *echo.HTTPError: echo's own (no route 404, wrong method 405, header or body too large);
//   - errUnavailable: a dependency did not answer in time: 503 with Retry-After;
//   - the client went away: 499 counted, nothing written, logged at debug;
//   - anything else: 500 "internal error"; only the log gets the error itself, so no path,
//     query or Go error reaches a client.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		req := c.Request()
		if c.Response().Committed {
			if clientGone(req.Context(), err) {
				c.Response().Status = statusClientClosedRequest
			}
			return
		}
		p := toProblem(err)
		switch {
		case p != nil:
		case clientGone(req.Context(), err):
			log.DebugContext(req.Context(), "client went away", "method", req.Method, "path", req.URL.Path, "request_id", requestID(c))
			c.Response().Status = statusClientClosedRequest
			return
		default:
			log.ErrorContext(req.Context(), "request failed", "method", req.Method, "path", req.URL.Path, "request_id", requestID(c), "err", err)
			p = problem(http.StatusInternalServerError, "internal error; the request id is in the X-Request-Id header")
		}
		writeProblem(c.Response(), req, p)
	}
}

// toProblem maps an error to the problem to answer with, or nil for an error that is ours.
func toProblem(err error) *Problem {
	var p *Problem
	var he *echo.HTTPError
	var ue *unavailableError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &he):
		return problem(he.Code, "%s", echoDetail(he))
	case errors.As(err, &ue):
		return unavailable(ue.what+" is not answering", 2)
	case database.Unavailable(err):
		return unavailable("the database is not answering", 2)
	}
	return nil
}

// writeProblem writes p on w, with its headers.
func writeProblem(w http.ResponseWriter, req *http.Request, p *Problem) {
	cp := *p
	cp.Instance = req.URL.EscapedPath() // a URI reference (RFC 9457), as the client sent it
	body, _ := json.Marshal(cp)
	h := w.Header()
	for k, v := range p.header {
		h[k] = v
	}
	h.Set(echo.HeaderContentType, mediaProblem)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	h.Del(echo.HeaderContentEncoding)
	w.WriteHeader(p.Status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// clientGone reports whether err comes from the client having gone away (its request's
// context was cancelled) rather than from us.
func clientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

// requestID is the id front named the request with.
func requestID(c echo.Context) string {
	if id := c.Response().Header()[echo.HeaderXRequestID]; len(id) > 0 {
		return id[0]
	}
	return ""
}

func echoDetail(he *echo.HTTPError) string {
	switch he.Code {
	case http.StatusNotFound:
		return "no such resource; see /openapi.yaml for the API"
	case http.StatusMethodNotAllowed:
		return "method not allowed on this resource; the Allow header lists the ones it takes"
	case http.StatusRequestEntityTooLarge:
		return fmt.Sprintf(`request body is larger than %d bytes; send {"number": n}`, maxBodyBytes)
	}
	return http.StatusText(he.Code)
}

// unavailableError marks an error from a dependency that did not answer (down, cut off, or
// slower than the time a request may wait for it).
type unavailableError struct {
	what string // "the database", "the cache", "storage"
	err  error
}

func (e *unavailableError) Error() string { return e.what + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// problemWriter turns an error status written by code that is not ours (http.ServeContent's
// 412 and 416) into a problem: the status and the headers it set are kept (Content-Range),
// its text/plain body is replaced.
type problemWriter struct {
	http.ResponseWriter
	req     *http.Request
	replace bool // an error status was written: swallow the body that follows
}

func (w *problemWriter) WriteHeader(code int) {
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replace = true
	writeProblem(w.ResponseWriter, w.req, problem(code, "%s", statusDetail(code)))
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if w.replace {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *problemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom passes a copy on to the writer underneath (which may hand it to the kernel).
func (w *problemWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.replace {
		return io.Copy(io.Discard, r)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

// statusDetail is the detail of an error status chosen by http.ServeContent.
func statusDetail(code int) string {
	switch code {
	case http.StatusRequestedRangeNotSatisfiable:
		return "the Range is not satisfiable: Content-Range gives the size; ask for bytes=first-last within it"
	case http.StatusPreconditionFailed:
		return "If-Match or If-Unmodified-Since did not match the current representation; drop it or use the current ETag"
	}
	return http.StatusText(code)
}
