package api

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/serve"
)

// textHeaders are the header values of a result's text, made once per result.
type textHeaders struct {
	etag, etagGzip     []string
	inline, attachment []string // Content-Disposition
	modTime            time.Time
	rowText, rowETag   string // digits kept in the row, and their fingerprint (openDigits)
}

func newTextHeaders(rec database.Record) *textHeaders {
	modTime := rec.UpdatedAt
	if rec.ComputedAt != nil {
		modTime = *rec.ComputedAt
	}
	name := fmt.Sprintf(`; filename="factorial-%d.txt"`, rec.Number)
	th := &textHeaders{
		etag:     []string{`"` + rec.Checksum + `"`},
		etagGzip: []string{`"` + rec.Checksum + `-gzip"`},
		inline:   []string{"inline" + name}, attachment: []string{"attachment" + name},
		modTime: modTime,
	}
	if rec.Key == "" && rec.Text != "" {
		th.rowText, th.rowETag = rec.Text, rowETag(rec.Text)
	}
	return th
}

var (
	hdrText      = []string{"text/plain; charset=utf-8"}
	hdrImmutable = []string{"public, max-age=31536000, immutable"} // n! never changes
)

// streamText serves the digits of a done record from the object store (or its row): ETag (their
// SHA-256), Range and conditional requests through http.ServeContent, gzip when asked for
// and no range is; th are its headers (nil: made here). The digits are checked against the
// record (integrity.go): digits found not to match before anything is sent (a Range, a HEAD
// and a short text are checked whole first) get the 202 of the record sent back to be
// computed; found not to match while streaming, the response is cut short. A local object
// already checked goes from the file to the socket in the kernel (sendfile).
func (s *Service) streamText(c echo.Context, rec database.Record, th *textHeaders, download bool) error {
	req, resp := c.Request(), c.Response()
	// The request's id goes into its context (withRequestID) only where something may log or
	// publish about it (a result sent back to be computed), not on every download.
	obj, err := s.results.openDigits(req.Context(), rec, th)
	if err != nil {
		return s.notServed(c, rec, err)
	}
	defer obj.Close()
	info := obj.Info()
	if info.Size != rec.Size {
		return s.notServed(c, rec, &corruptError{reason: corruptChecksum,
			err: fmt.Errorf("the object has %d bytes, the record says %d", info.Size, rec.Size)})
	}
	rng := byteRange(req)
	if p := checkRanges(rng, rec.Size); p != nil {
		return p
	}
	verified := s.results.verified.has(rec, info)
	if _, inRow := obj.(*rowDigits); !verified && (inRow || rng != "" || req.Method == http.MethodHead || rec.Size <= holdBack) {
		// Checked whole before any header is set, so digits that do not match get the 202 of
		// their recomputation (JSON, not cacheable) instead of a 200 or 206 with the record's
		// ETag: digits kept in a row (in memory), a part (served from the middle, it cannot be
		// checked on the way), a HEAD (nothing goes on the way), and text no longer than what a
		// download holds back anyway (nothing would be sent before its end).
		if err := checkWhole(obj, rec); err != nil {
			var ce *corruptError
			if errors.As(err, &ce) {
				return s.notServed(c, rec, ce)
			}
			return storageError(err)
		}
		if _, err := obj.Seek(0, io.SeekStart); err != nil {
			return storageError(err)
		}
		s.results.verified.add(rec, info)
		verified = true
	}
	if th == nil {
		th = newTextHeaders(rec)
	}
	h := resp.Header()
	h[echo.HeaderContentType] = hdrText
	h["Cache-Control"] = hdrImmutable
	h["Content-Disposition"] = th.inline
	if download {
		h["Content-Disposition"] = th.attachment // the browser saves it instead of showing 65 MB in a tab
	}

	if rng == "" && acceptsGzip(req.Header.Get(echo.HeaderAcceptEncoding)) {
		h["Etag"] = th.etagGzip
		h["Last-Modified"] = []string{th.modTime.UTC().Format(http.TimeFormat)}
		switch preconditions(req.Header, th.etagGzip[0], th.modTime) {
		case http.StatusPreconditionFailed:
			return problem(http.StatusPreconditionFailed, "%s", statusDetail(http.StatusPreconditionFailed))
		case http.StatusNotModified:
			resp.WriteHeader(http.StatusNotModified)
			return nil
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
		resp.WriteHeader(http.StatusOK)
		if req.Method == http.MethodHead {
			return nil
		}
		stored := &storedReader{Reader: obj}
		var src io.Reader = stored
		v := newVerifyingReader(stored, rec)
		if !verified {
			src = v
		}
		zw, _ := gzip.NewWriterLevel(newProgressWriter(resp), gzip.BestSpeed)
		if _, err := io.Copy(zw, src); err != nil {
			if ce := v.corrupt(); ce != nil {
				_, _ = s.results.recompute(withRequestID(c), rec, ce)
				panic(http.ErrAbortHandler) // no gzip trailer, no last chunk: the client sees it cut
			}
			if stored.err != nil {
				// Storage failed mid-way: cut, as above. Returned, the error would end the
				// chunked body as if it were whole.
				s.log.WarnContext(withRequestID(c), "storage failed in the middle of a download", "number", rec.Number, "err", stored.err)
				panic(http.ErrAbortHandler)
			}
			return err // the client went away
		}
		if !verified {
			s.results.verified.add(rec, info)
		}
		return zw.Close()
	}

	h["Etag"] = th.etag
	tw := &textWriter{progress: progressWriter{Response: resp, rc: *http.NewResponseController(resp)}}
	tw.problemWriter = problemWriter{ResponseWriter: &tw.progress, req: req}
	w := &tw.problemWriter
	var content io.ReadSeeker = obj
	if f, ok := obj.(interface{ File() *os.File }); ok && verified {
		content = f.File() // to the socket by sendfile
	}
	if verified {
		http.ServeContent(w, req, "", th.modTime, content)
		return nil
	}
	v := newVerifyingReader(obj, rec)
	http.ServeContent(w, req, "", th.modTime, v)
	if ce := v.corrupt(); ce != nil {
		// ServeContent stopped short of Content-Length: net/http closes the connection.
		_, _ = s.results.recompute(withRequestID(c), rec, ce)
		return nil
	}
	if v.checked {
		s.results.verified.add(rec, info)
	}
	return nil
}

// storedReader remembers the error of a read of the stored digits, to tell storage failing
// from the client going away when a copy stops.
type storedReader struct {
	objectstore.Reader
	err error
}

func (r *storedReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// notServed answers a request for digits that must not be served: the record goes back to
// be computed, and the answer is its 202 (what the record now is).
func (s *Service) notServed(c echo.Context, rec database.Record, err error) error {
	var ce *corruptError
	if !errors.As(err, &ce) {
		return err
	}
	fresh, err := s.results.recompute(withRequestID(c), rec, ce)
	if err != nil {
		return err
	}
	return s.answer(c, result{Record: fresh})
}

// storageError classifies an error reading an object.
func storageError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &unavailableError{what: "storage", err: err}
}

// progressWriter moves the write deadline forward as a large response makes progress, so a
// download takes as long as it needs while a client that stops reading is cut off after
// serve.WriteTimeout. ReadFrom hands a file to the connection underneath (sendfile) in
// pieces, moving the deadline before each.
type progressWriter struct {
	*echo.Response
	rc      http.ResponseController
	pending int
	piece   io.LimitedReader // ReadFrom's, kept here so that it is not allocated each time
}

func newProgressWriter(r *echo.Response) *progressWriter {
	return &progressWriter{Response: r, rc: *http.NewResponseController(r)}
}

// textWriter is the writer of a text download: its problemWriter writes to its
// progressWriter, both in one allocation.
type textWriter struct {
	problemWriter
	progress progressWriter
}

func (w *progressWriter) Write(b []byte) (int, error) {
	if w.pending += len(b); w.pending >= 256<<10 {
		w.pending = 0
		_ = w.rc.SetWriteDeadline(time.Now().Add(serve.WriteTimeout))
	}
	return w.Response.Write(b)
}

const sendPiece = 4 << 20

func (w *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.Response.Writer.(io.ReaderFrom)
	lr, limited := src.(*io.LimitedReader)
	if limited {
		if d, inRow := lr.R.(*rowDigits); inRow {
			return w.writeRow(d, lr)
		}
	}
	file := false
	if limited {
		_, file = lr.R.(*os.File)
	}
	if !ok || !file || !w.Response.Committed {
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		return io.CopyBuffer(writerOnly{w}, src, *buf)
	}
	var total int64
	for lr.N > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(serve.WriteTimeout))
		w.piece = io.LimitedReader{R: lr.R, N: min(lr.N, sendPiece)}
		n, err := rf.ReadFrom(&w.piece)
		lr.N -= n
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// writeRow writes what lr asks of d, digits held in memory, from the string itself, in
// pieces of rowPiece (each moving the write deadline, see Write): not copied through a
// buffer first, since the connection only reads what it is given.
func (w *progressWriter) writeRow(d *rowDigits, lr *io.LimitedReader) (int64, error) {
	var total int64
	for lr.N > 0 {
		piece := d.rest(min(lr.N, rowPiece))
		if piece == "" {
			break
		}
		n, err := w.Write(unsafe.Slice(unsafe.StringData(piece), len(piece))) // never written to
		lr.N -= int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

const rowPiece = 256 << 10

func (w *progressWriter) Unwrap() http.ResponseWriter { return w.Response }

// copyBuffers are the buffers of copies that cannot go by sendfile (text kept in a row).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writerOnly hides ReadFrom, so io.Copy does not come back to it.
type writerOnly struct{ io.Writer }

// preconditions evaluates the conditional headers of a GET or HEAD of a representation whose
// strong ETag is etag, in the order of RFC 9110 13.2.2, as http.ServeContent does for the
// identity text (the gzipped one is not served by it): 412, 304, or 0 to serve it.
func preconditions(h http.Header, etag string, modTime time.Time) int {
	modTime = modTime.Truncate(time.Second) // HTTP dates have whole seconds
	if im := h.Values("If-Match"); len(im) > 0 {
		if !etagListMatches(strings.Join(im, ","), etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && modTime.After(t) {
		return http.StatusPreconditionFailed
	}
	if inm := h.Values("If-None-Match"); len(inm) > 0 {
		if etagListMatches(strings.Join(inm, ","), etag, true) {
			return http.StatusNotModified
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !modTime.After(t) {
		return http.StatusNotModified
	}
	return 0
}

// etagListMatches reports whether list (`*` or entity-tags separated by commas) names etag,
// a strong entity-tag; weak compares as RFC 9110 8.8.3.2 says, ignoring a W/ prefix.
func etagListMatches(list, etag string, weak bool) bool {
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		if list[0] == '*' {
			return true
		}
		isWeak := strings.HasPrefix(list, "W/")
		if isWeak {
			list = list[2:]
		}
		if len(list) < 2 || list[0] != '"' {
			return false // not an entity-tag: nothing after it can be read either
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		list = list[end+2:]
		if tag == etag && (weak || !isWeak) {
			return true
		}
	}
}
