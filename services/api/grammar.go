package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The one grammar of what clients send. A number is written the same way everywhere, in the
// body and in the path: a decimal integer without sign, leading zeros, spaces, fraction or
// exponent ("0", "5", "100000"). Everything else is refused with a problem that says what to
// send; nothing is rounded, trimmed or guessed.

const (
	maxBodyBytes = 1024
	maxWait      = 60 * time.Second
)

// errNotANumber is returned by parseNumber for anything that is not a plain integer.
var errNotANumber = errors.New("not a plain integer")

// errTooLarge is returned by parseNumber for a plain integer above the largest int64.
var errTooLarge = errors.New("too large")

// parseNumber reads a number as the API writes it: "0", or a non-zero digit followed by
// digits, at most the largest int64.
func parseNumber(s string) (int64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, errNotANumber
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNotANumber
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errTooLarge // only digits, so the one way to fail is range
	}
	return n, nil
}

// numberHint says what to send, for every refusal of a request body.
func numberHint(maxNumber int64) string {
	return fmt.Sprintf(`send {"number": n} with n an integer from 0 to %d`, maxNumber)
}

// readNumberRequest reads and decodes the body of POST /api/v1/factorial: Content-Type
// application/json (charset, if given, UTF-8), at most maxBodyBytes, one JSON object with
// the one member "number".
func readNumberRequest(r *http.Request, maxNumber int64) (int64, error) {
	if ct := r.Header.Values("Content-Type"); len(ct) > 1 {
		return 0, problem(http.StatusUnsupportedMediaType, "Content-Type is given %d times: send it once; %s", len(ct), numberHint(maxNumber))
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != "" {
		return 0, problem(http.StatusUnsupportedMediaType, "%s; %s", err, numberHint(maxNumber))
	}
	// Content-Encoding on several lines is one list (RFC 9110, section 5.3): read it whole.
	if ce := strings.Join(r.Header.Values("Content-Encoding"), ", "); ce != "" && !strings.EqualFold(ce, "identity") {
		// Read as it is, a compressed body would be refused as malformed JSON, or worse, read.
		return 0, problem(http.StatusUnsupportedMediaType,
			"Content-Encoding %s is not supported: send the body uncompressed; %s", clip(ce), numberHint(maxNumber)).
			With("Accept-Encoding", "identity")
	}
	if r.ContentLength > maxBodyBytes {
		return 0, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return 0, problem(http.StatusRequestTimeout, "the request body did not arrive in time; send it with the headers")
	case err != nil: // the client's side failed: cut off, or ended before its Content-Length
		return 0, problem(http.StatusBadRequest, "the request body could not be read to its end; %s", numberHint(maxNumber))
	}
	if len(body) > maxBodyBytes {
		return 0, tooLarge()
	}
	return decodeNumberBody(body, maxNumber)
}

func tooLarge() *Problem {
	return problem(http.StatusRequestEntityTooLarge, `request body is larger than %d bytes; send {"number": n}`, maxBodyBytes)
}

// checkJSONContentType returns "" for application/json with no parameter other than a
// UTF-8 charset, or else what is wrong with it.
func checkJSONContentType(v string) string {
	if v == "" {
		return "Content-Type is missing: it must be application/json"
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != mediaJSON {
		return "Content-Type must be application/json"
	}
	for name, value := range params {
		if name != "charset" {
			return fmt.Sprintf("Content-Type parameter %s is not supported: send application/json", clip(name))
		}
		if !strings.EqualFold(value, "utf-8") {
			return fmt.Sprintf("charset %s is not supported: send UTF-8 (application/json; charset=utf-8)", clip(value))
		}
	}
	return ""
}

// decodeNumberBody decodes {"number": n}. Refused with 400: anything but one JSON object in
// UTF-8 (no byte order mark, nothing after it but white space), a member other than
// "number", a member given twice, a value that is not a plain integer (4.5, 1e3, 10.0, "5",
// true, null, -0); with 422: a plain integer below 0 or above maxNumber (the number is
// returned with the refusal when it is above maxNumber).
func decodeNumberBody(body []byte, maxNumber int64) (int64, error) {
	hint := numberHint(maxNumber)
	bad := func(format string, args ...any) (int64, error) {
		return 0, problem(http.StatusBadRequest, "%s; %s", fmt.Sprintf(format, args...), hint)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("request body is empty")
	}
	if !utf8.Valid(body) {
		return bad("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return bad("malformed JSON: %s", jsonReason(err))
	}
	if tok != json.Delim('{') {
		return bad("the body must be a JSON object")
	}
	var literal json.Number
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("malformed JSON: %s", jsonReason(err))
		}
		key, _ := tok.(string) // inside an object, More then Token gives a key
		if key != "number" {
			return bad("unknown field %s", clip(key))
		}
		if seen {
			return bad(`"number" is given twice`)
		}
		seen = true
		tok, err = dec.Token()
		if err != nil {
			return bad("malformed JSON: %s", jsonReason(err))
		}
		num, ok := tok.(json.Number)
		if !ok {
			return bad("number must be an integer, not %s", jsonKind(tok))
		}
		literal = num
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bad("malformed JSON: %s", jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("extra data after the JSON object")
	}
	if !seen {
		return bad(`field "number" is missing`)
	}
	s := literal.String()
	negative := strings.HasPrefix(s, "-")
	n, err := parseNumber(strings.TrimPrefix(s, "-"))
	switch {
	case errors.Is(err, errNotANumber):
		return bad("number %s is not a plain integer", clipLiteral(s))
	case negative && n == 0 && err == nil:
		return bad("number -0 is not a plain integer (write 0)")
	case err != nil || negative:
		return 0, problem(http.StatusUnprocessableEntity, "number %s is out of range; %s", clipLiteral(s), hint)
	case n > maxNumber:
		// n comes back with the refusal: a result stored before MAX_NUMBER was lowered is
		// still served (see postFactorial).
		return n, problem(http.StatusUnprocessableEntity, "number %s is out of range; %s", clipLiteral(s), hint)
	}
	return n, nil
}

// jsonReason is the one-line reason of a JSON syntax error, with where it happened.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "unreadable"
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case json.Delim:
		return "an object or array"
	}
	return "that"
}

// clip quotes what a client sent, short enough for a one-line detail: escaped as Go quotes
// strings (so no control character or invalid UTF-8 gets through), at most 48 bytes of that.
func clip(s string) string {
	const max = 48
	q := strconv.Quote(s)
	if len(q) <= max {
		return q
	}
	cut := max - 1
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut] + `…"`
}

// clipLiteral shortens a JSON number literal (ASCII by the JSON grammar) for a detail.
func clipLiteral(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "…"
}

// pathNumber reads the {number} of a path. It accepts exactly what the body accepts; the
// range is not checked here, since a stored result stays readable when MAX_NUMBER is lowered.
func pathNumber(raw string, maxNumber int64) (int64, error) {
	n, err := parseNumber(raw)
	if err != nil {
		return 0, problem(http.StatusBadRequest,
			"number in the path must be an integer from 0 to %d, written without sign, leading zeros or spaces", maxNumber)
	}
	return n, nil
}

// factorialQuery is what GET /api/v1/factorial/{n} takes after "?".
type factorialQuery struct {
	wait     time.Duration // 0: answer at once
	format   string        // "", "json" or "text"
	download bool          // text as an attachment
}

const factorialQueryHint = "this resource takes wait (a duration like 30s, at most 60s), format (json or text) and download (true or false)"

// parseFactorialQuery reads the query of GET /api/v1/factorial/{n}: wait, format and
// download, each at most once; any other parameter is refused.
func parseFactorialQuery(rawQuery string) (factorialQuery, error) {
	var q factorialQuery
	if rawQuery == "" {
		return q, nil // the common case, without allocating
	}
	if plainQuery(rawQuery) {
		return q, q.setPlain(rawQuery)
	}
	return parseQueryValues(rawQuery)
}

// parseQueryValues is parseFactorialQuery of any query, through url.ParseQuery.
func parseQueryValues(rawQuery string) (factorialQuery, error) {
	var q factorialQuery
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, problem(http.StatusBadRequest, "the query is malformed; %s", factorialQueryHint)
	}
	for name, vs := range values {
		if len(vs) > 1 {
			return q, problem(http.StatusBadRequest, "query parameter %s is given more than once; %s", clip(name), factorialQueryHint)
		}
		if err := q.set(name, vs[0]); err != nil {
			return q, err
		}
	}
	return q, nil
}

// plainQuery reports whether raw is a query that url.ParseQuery would read as it is written,
// each name at most once: at most three parameters, with no escape, '+' or ';', and names
// that all differ. Such a query (format=text, wait=30s&format=json) is read in place,
// without the map of url.ParseQuery (setPlain).
func plainQuery(raw string) bool {
	if len(raw) > 64 || strings.ContainsAny(raw, "%+;") {
		return false
	}
	var names [3]string
	i := 0
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		if i == len(names) {
			return false
		}
		name, _, _ := strings.Cut(seg, "=")
		if slices.Contains(names[:i], name) {
			return false
		}
		names[i] = name
		i++
	}
	return true
}

// setPlain reads a query plainQuery accepted.
func (q *factorialQuery) setPlain(raw string) error {
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		name, v, _ := strings.Cut(seg, "=")
		if err := q.set(name, v); err != nil {
			return err
		}
	}
	return nil
}

// set reads one parameter of the query.
func (q *factorialQuery) set(name, v string) error {
	switch name {
	case "wait":
		d, ok := parseWait(v)
		if !ok {
			return problem(http.StatusBadRequest, "wait %s is not a duration like 30s, 1.5s or 500ms (at most 60s)", clip(v))
		}
		q.wait = d
	case "download":
		switch v {
		case "1", "true":
			q.download = true
		case "0", "false":
		default:
			return problem(http.StatusBadRequest, "download %s is not true, false, 1 or 0", clip(v))
		}
	case "format":
		if v != "json" && v != "text" {
			return problem(http.StatusBadRequest, "format %s is not json or text", clip(v))
		}
		q.format = v
	default:
		return problem(http.StatusBadRequest, "unknown query parameter %s; %s", clip(name), factorialQueryHint)
	}
	return nil
}

// parseWait reads a wait: a whole number written as everywhere else (no sign, no leading
// zeros), an optional fraction, and the unit ms, s or m. Longer
// than maxWait is cut to maxWait.
func parseWait(v string) (time.Duration, bool) {
	var num string
	switch {
	case strings.HasSuffix(v, "ms"):
		num = v[:len(v)-2]
	case strings.HasSuffix(v, "s"), strings.HasSuffix(v, "m"):
		num = v[:len(v)-1]
	default:
		return 0, false
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if whole == "" || len(whole) > 1 && whole[0] == '0' || hasDot && frac == "" || len(whole) > 6 || len(frac) > 9 {
		return 0, false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false
	}
	return min(d, maxWait), true
}

// noQuery refuses any query on a resource that takes none.
func noQuery(rawQuery string) error {
	if rawQuery != "" {
		return problem(http.StatusBadRequest, "this resource takes no query parameters; remove everything after \"?\"")
	}
	return nil
}
