package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/database"
)

// hotCache holds, in this process, the answers about finished results ready to write: the
// bytes of GET /api/v1/factorial/{n} and of its metadata, and the record. A finished result
// never changes, so nothing here goes stale; an entry is dropped when its result is sent back
// to be computed or fails. It is bounded by bytes (LOCAL_CACHE_BYTES), least recently used
// first out, and sits in front of the shared cache (Redis or in-process) and the database:
// a cached read touches neither, and allocates next to nothing.
type hotCache struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[int64, *hotEntry]
	bytes int64
	max   int64
}

// hotEntry is one finished result. Its slices are shared by every answer and never changed.
type hotEntry struct {
	rec        database.Record
	json       []byte   // the 200 of GET …/{n}, digits inlined when small enough; nil if not yet known
	jsonLength []string // its Content-Length header value
	meta       []byte   // the 200 of GET …/metadata/{n}; nil until the whole row is known, or when the store presigns
	metaLength []string
	row        bool         // rec is the whole row
	text       *textHeaders // the headers of its text download
}

func (e *hotEntry) size() int64 { return int64(len(e.json)+len(e.meta)+len(e.rec.Text)) + 512 }

func newHotCache(maxBytes int64) *hotCache {
	l, _ := simplelru.NewLRU[int64, *hotEntry](1<<30, nil) // bounded by bytes below, not by count
	return &hotCache{lru: l, max: maxBytes}
}

// get returns the entry of n, or nil.
func (h *hotCache) get(n int64) *hotEntry {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	e, _ := h.lru.Get(n)
	h.mu.Unlock()
	return e
}

// put keeps e as the entry of n, replacing any, and forgets the least recently used entries
// past the byte budget. An entry larger than the whole budget is not kept.
func (h *hotCache) put(e *hotEntry) {
	size := e.size()
	if size > h.max {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.lru.Peek(e.rec.Number); ok {
		h.bytes -= old.size()
	}
	h.lru.Add(e.rec.Number, e)
	h.bytes += size
	for h.bytes > h.max {
		_, old, ok := h.lru.RemoveOldest()
		if !ok {
			break
		}
		h.bytes -= old.size()
	}
}

func (h *hotCache) delete(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.lru.Peek(n); ok {
		h.bytes -= old.size()
		h.lru.Remove(n)
	}
}

// remember renders what can be answered from res, a done result, and keeps it: its JSON when
// the digits are there (or too large to be inlined anyway), and its metadata when res is the
// whole row and the store does not presign (a presigned URL is made per request). What the
// entry already had and res lacks is kept.
func (r *results) remember(res result) {
	if r.hot == nil || res.Record.Status != database.StatusDone {
		return
	}
	old := r.hot.get(res.Record.Number)
	e := &hotEntry{rec: res.Record, row: res.Row}
	if old != nil && (old.rec.Checksum != res.Record.Checksum || !old.rec.UpdatedAt.Equal(res.Record.UpdatedAt)) {
		old = nil // computed again since: start afresh
	}
	if old != nil {
		*e = *old
		if res.Row {
			e.rec, e.row = res.Record, true
		}
	}
	if e.rec.Key == "" && e.rec.Text == "" && res.Text != nil {
		e.rec.Text = *res.Text // a small result's text download needs no database either
	}
	if e.json == nil && (res.Text != nil || res.Record.Size > r.inlineMax) {
		out := toFactorialJSON(res)
		if res.Record.Size > r.inlineMax {
			out.FactorialResult = nil
		}
		e.json, e.jsonLength = renderFactorial(out)
	}
	if e.meta == nil && e.row && !r.presigns {
		e.meta, e.metaLength = render(toMetadataJSON(e.rec))
	}
	if e.text == nil || e.text.rowText != e.rec.Text {
		e.text = newTextHeaders(e.rec)
	}
	r.hot.put(e)
}

// render is what echo's c.JSON writes for v (its encoder ends with a newline).
func render(v any) ([]byte, []string) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil
	}
	b = append(b, '\n')
	return b, []string{strconv.Itoa(len(b))}
}

// renderFactorial is render(out), with the digits copied in rather than escaped byte by
// byte (see marshalDigits).
func renderFactorial(out factorialJSON) ([]byte, []string) {
	if out.FactorialResult == nil {
		return render(out)
	}
	digits := *out.FactorialResult
	b, err := marshalDigits(&out, &out.FactorialResult, "factorial_result", digits)
	if err != nil {
		return nil, nil
	}
	b = append(b, '\n')
	return b, []string{strconv.Itoa(len(b))}
}

// marshalDigits is json.Marshal(v), byte for byte, where *field (a field of v, JSON key
// key) is to hold digits: encoding/json looks at every byte of a string for what to
// escape, and the digits of a result, up to a megabyte, have nothing to escape. The rest of
// v is encoded with a one-digit placeholder, which the digits then replace: `"key":"0"`
// appears only there, since a quote inside any other string is escaped. Anything but digits
// (or a short string) goes through encoding/json as ever.
func marshalDigits(v any, field **string, key, digits string) ([]byte, error) {
	if len(digits) < 256 || !digitsOnly(digits) {
		*field = &digits
		return json.Marshal(v)
	}
	zero := "0"
	*field = &zero
	b, err := json.Marshal(v)
	*field = &digits
	if err != nil {
		return nil, err
	}
	pattern := `"` + key + `":"0"`
	i := bytes.Index(b, []byte(pattern))
	if i < 0 {
		return json.Marshal(v)
	}
	at := i + len(pattern) - 2 // the placeholder digit
	out := make([]byte, 0, len(b)-1+len(digits)+1)
	out = append(out, b[:at]...)
	out = append(out, digits...)
	return append(out, b[at+1:]...), nil
}

// digitsOnly reports whether s is made of the digits 0 to 9 only.
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

var hdrJSON = []string{mediaJSON}

// autoLengthMax is the largest body net/http answers with a Content-Length of its own when
// the handler sets none (its bufferBeforeChunkingSize); a larger one would be chunked.
const autoLengthMax = 2048

// writeJSON writes bytes rendered beforehand as a JSON answer. The Content-Length of a body
// that fits net/http's buffer (2 KB) is left to net/http, which adds it, HEAD included, beside
// the header map rather than in it: each header in the map is copied, sorted and written
// on every answer (a third of a microsecond each on the machine of the README's figures).
func writeJSON(c echo.Context, body []byte, length []string) error {
	resp := c.Response()
	h := resp.Header()
	h[echo.HeaderContentType] = hdrJSON
	if len(body) > autoLengthMax {
		h[echo.HeaderContentLength] = length
	}
	resp.WriteHeader(http.StatusOK)
	_, err := resp.Write(body)
	return err
}
