package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const testMax = 100000

func TestDecodeNumberBody(t *testing.T) {
	for _, tt := range []struct {
		body   string
		n      int64
		status int // 0: accepted
		detail string
	}{
		{`{"number": 5}`, 5, 0, ""},
		{` {"number":0} `, 0, 0, ""},
		{"{\"number\":\n100000}\n", 100000, 0, ""},
		{`{"number": 100001}`, 0, 422, "out of range"},
		{`{"number": -1}`, 0, 422, "out of range"},
		{`{"number": 99999999999999999999}`, 0, 422, "out of range"},
		{`{"number": -0}`, 0, 400, "-0"},
		{`{"number": 4.5}`, 0, 400, "plain integer"},
		{`{"number": 1e3}`, 0, 400, "plain integer"},
		{`{"number": 10.0}`, 0, 400, "plain integer"},
		{`{"number": "5"}`, 0, 400, "a string"},
		{`{"number": true}`, 0, 400, "a boolean"},
		{`{"number": null}`, 0, 400, "null"},
		{`{"number": [5]}`, 0, 400, "object or array"},
		{`{"number": 5, "number": 6}`, 0, 400, "twice"},
		{`{"number": 5, "Number": 6}`, 0, 400, `"Number"`},
		{`{"Number": 5}`, 0, 400, `unknown field "Number"`},
		{`{}`, 0, 400, "missing"},
		{`[5]`, 0, 400, "JSON object"},
		{`5`, 0, 400, "JSON object"},
		{`{"number": 5`, 0, 400, "end of input"},
		{`{"number": 05}`, 0, 400, "malformed"},
		{`{"number": +5}`, 0, 400, "malformed"},
		{`{"number": 5} {"number": 6}`, 0, 400, "extra data"},
		{`{"number": 5}x`, 0, 400, "extra data"},
		{"\ufeff{\"number\": 5}", 0, 400, "malformed"},
		{"{\"number\": 5, \"\xff\": 1}", 0, 400, "UTF-8"},
		{``, 0, 400, "empty"},
		{`   `, 0, 400, "empty"},
	} {
		t.Run(tt.body, func(t *testing.T) {
			n, err := decodeNumberBody([]byte(tt.body), testMax)
			if tt.status == 0 {
				if err != nil || n != tt.n {
					t.Fatalf("got %d, %v; want %d", n, err, tt.n)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("got %v; want %d mentioning %q", err, tt.status, tt.detail)
			}
			if !strings.Contains(p.Detail, `send {"number": n}`) {
				t.Fatalf("detail does not say what to send: %q", p.Detail)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	for _, tt := range []struct {
		ct     string
		ok     bool
		detail string
	}{
		{"application/json", true, ""},
		{"application/json; charset=utf-8", true, ""},
		{"Application/JSON; Charset=UTF-8", true, ""},
		{"application/json; charset=utf-16", false, "UTF-8"},
		{"application/json; charset=latin1", false, "UTF-8"},
		{"application/json; boundary=x", false, "boundary"},
		{"text/plain", false, "application/json"},
		{"application/json-patch+json", false, "application/json"},
		{"", false, "missing"},
		{"application/json; charset=", false, "application/json"},
	} {
		got := checkJSONContentType(tt.ct)
		if (got == "") != tt.ok || !strings.Contains(got, tt.detail) {
			t.Errorf("%q: %q", tt.ct, got)
		}
	}
}

func TestPathNumberAcceptsWhatTheBodyAccepts(t *testing.T) {
	for _, s := range []string{"0", "5", "100000", "9223372036854775807"} {
		if _, err := pathNumber(s, testMax); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, s := range []string{"", "05", "+5", "-5", "-0", " 5", "5 ", "5.0", "1e3", "0x10", "%35", "٥", "9223372036854775808"} {
		if _, err := pathNumber(s, testMax); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseFactorialQuery(t *testing.T) {
	for _, tt := range []struct {
		query  string
		want   factorialQuery
		detail string // "" when accepted
	}{
		{"", factorialQuery{}, ""},
		{"wait=30s", factorialQuery{wait: 30 * time.Second}, ""},
		{"wait=1.5s&format=text", factorialQuery{wait: 1500 * time.Millisecond, format: "text"}, ""},
		{"wait=500ms", factorialQuery{wait: 500 * time.Millisecond}, ""},
		{"wait=2m", factorialQuery{wait: maxWait}, ""},
		{"wait=0s", factorialQuery{}, ""},
		{"format=json", factorialQuery{format: "json"}, ""},
		{"wait=forever", factorialQuery{}, "wait"},
		{"wait=30", factorialQuery{}, "wait"},
		{"wait=-1s", factorialQuery{}, "wait"},
		{"wait=1h", factorialQuery{}, "wait"},
		{"wait=05s", factorialQuery{}, "wait"},
		{"wait=1.s", factorialQuery{}, "wait"},
		{"wait=1s2ms", factorialQuery{}, "wait"},
		{"wait=", factorialQuery{}, "wait"},
		{"wait=1s&wait=2s", factorialQuery{}, "more than once"},
		{"format=xml", factorialQuery{}, "json or text"},
		{"color=red", factorialQuery{}, "unknown"},
		{"wait=1s;format=text", factorialQuery{}, "malformed"},
		{"wait=%zz", factorialQuery{}, "malformed"},
	} {
		got, err := parseFactorialQuery(tt.query)
		if tt.detail == "" {
			if err != nil || got != tt.want {
				t.Errorf("%q: %+v, %v; want %+v", tt.query, got, err, tt.want)
			}
			continue
		}
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%q: %v; want 400 mentioning %q", tt.query, err, tt.detail)
		}
	}
}

func TestNegotiateAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", mediaJSON, mediaText)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call", allocs)
	}
}

// oneLine checks what every refusal promises: a problem of the given statuses whose detail is
// one line of bounded length.
func oneLine(t *testing.T, err error, statuses ...int) {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("refusal is not a problem: %v", err)
	}
	ok := false
	for _, s := range statuses {
		ok = ok || p.Status == s
	}
	if !ok {
		t.Fatalf("status %d, want one of %v", p.Status, statuses)
	}
	if strings.ContainsAny(p.Detail, "\r\n") || len(p.Detail) > 300 || !utf8.ValidString(p.Detail) {
		t.Fatalf("detail is not one short line: %q", p.Detail)
	}
}

// FuzzDecodeNumberBody: whatever the body, the decoder answers a number in range or a one-line
// 400/422; what it accepts is exactly one "number" member whose literal is the canonical
// integer, and that literal is what the path accepts.
func FuzzDecodeNumberBody(f *testing.F) {
	for _, seed := range []string{
		`{"number": 5}`, `{"number":0}`, `{"number": -0}`, `{"number": -1}`, `{"number": 1e3}`,
		`{"number": 10.0}`, `{"number": 5, "number": 6}`, `{"number": "5"}`, `{"number": null}`,
		`{"number": 99999999999999999999999999999}`, `{"number": 5}{"number": 6}`, `[{"number": 5}]`,
		"\ufeff{\"number\": 5}", "{\"number\": 5, \"\xff\xfe\": 1}", `{"number": {"number": 5}}`,
		`{"n\u0075mber": 5}`, `{"number": 5, "__proto__": {}}`, `{"number": 0005}`, `{"number": +5}`,
		`{"number": 5 /* comment */}`, `{"number": NaN}`, `{"number": Infinity}`, `{"number": 0x10}`,
		strings.Repeat(`[`, 1000), `{"number": 5` + strings.Repeat(" ", 1000) + `}`, "{\"number\": 5}\x00",
		`{"number": 1E400}`, `{"number": -9223372036854775808}`, `{"number": 9223372036854775807}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := decodeNumberBody(body, testMax)
		if err != nil {
			oneLine(t, err, http.StatusBadRequest, http.StatusUnprocessableEntity)
			return
		}
		if n < 0 || n > testMax {
			t.Fatalf("accepted %d, out of range", n)
		}
		// What was accepted is one object with one member "number" whose literal is n written
		// canonically, and the path accepts that literal.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]json.Number
		if err := dec.Decode(&m); err != nil || len(m) != 1 {
			t.Fatalf("accepted %q, which is not one member: %v", body, err)
		}
		if lit := m["number"].String(); lit != strconv.FormatInt(n, 10) {
			t.Fatalf("accepted literal %q as %d", lit, n)
		}
		if p, err := pathNumber(strconv.FormatInt(n, 10), testMax); err != nil || p != n {
			t.Fatalf("the path refuses what the body accepts: %d", n)
		}
	})
}

// FuzzPathNumber: the path accepts a string exactly when the body accepts it as the value of
// "number" (range aside: the path serves stored results above MAX_NUMBER).
func FuzzPathNumber(f *testing.F) {
	for _, seed := range []string{"0", "5", "05", "+5", "-5", "-0", "5.0", "1e3", " 5", "%35", "٥", "0x1f",
		"9223372036854775807", "9223372036854775808", "", "5/", "../5", "5\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := pathNumber(s, testMax)
		if err != nil {
			oneLine(t, err, http.StatusBadRequest)
		} else if strconv.FormatInt(n, 10) != s {
			t.Fatalf("path %q read as %d: not canonical", s, n)
		}
		if len(s) > 18 || !utf8.ValidString(s) || strings.ContainsAny(s, "\"\\ \t\r\n/") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
			return // beyond int64 the body says "out of range", the path "not a number"; or not a literal
		}
		bn, berr := decodeNumberBody([]byte(`{"number": `+s+`}`), 1<<62)
		bodyOK := berr == nil || func() bool {
			var p *Problem
			return errors.As(berr, &p) && p.Status == 422 && !strings.HasPrefix(s, "-")
		}()
		if (err == nil) != bodyOK {
			t.Fatalf("path and body disagree on %q: path %v, body %d %v", s, err, bn, berr)
		}
	})
}

// FuzzParseFactorialQuery: any query is either read (a wait between 0 and 60 s, a format of
// json, text or none) or refused with a one-line 400.
func FuzzParseFactorialQuery(f *testing.F) {
	for _, seed := range []string{"", "wait=30s", "wait=1.5s&format=text", "wait=-1s", "wait=1h", "wait=9999999999999s",
		"wait=1e3s", "wait=0x10s", "wait=%00", "wait=1s&wait=2s", "format=text&format=json", "format=TEXT",
		"wait=1s;format=text", "a=%zz", strings.Repeat("x=1&", 1000), "wait=.5s", "wait=5.s", "wait=1.000000001s",
		"wait=NaNs", "wait=+1s", "wait=1µs", "wait=1ns", "=", "&&&", "wait", "format"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseFactorialQuery(raw)
		if want, werr := parseQueryValues(raw); (err == nil) != (werr == nil) || (err == nil && q != want) {
			t.Fatalf("%q: %+v, %v; url.ParseQuery's values give %+v, %v", raw, q, err, want, werr)
		}
		if err != nil {
			oneLine(t, err, http.StatusBadRequest)
			return
		}
		if q.wait < 0 || q.wait > maxWait {
			t.Fatalf("%q: wait %v out of bounds", raw, q.wait)
		}
		if q.format != "" && q.format != "json" && q.format != "text" {
			t.Fatalf("%q: format %q", raw, q.format)
		}
		if _, err := url.ParseQuery(raw); err != nil {
			t.Fatalf("%q accepted but malformed: %v", raw, err)
		}
	})
}

// The queries read in place (plainQuery) are read as url.ParseQuery's values are.
func TestPlainQueryIsParseQuery(t *testing.T) {
	for _, raw := range []string{"format=text", "format=json", "wait=30s", "wait=1.5s&format=text", "format=text&download=1",
		"wait=2m&format=text&download=true", "&format=text&", "format=text&&wait=1s", "format=xml", "wait=1h", "download=yes",
		"color=red", "=text", "format", "format=", "format=text&format=text", "wait=1s&format=text&download=0&x=1",
		"format=te=xt", "a&b&c"} {
		got, err := parseFactorialQuery(raw)
		want, werr := parseQueryValues(raw)
		if (err == nil) != (werr == nil) || (err == nil && got != want) {
			t.Errorf("%q: %+v, %v; url.ParseQuery's values give %+v, %v", raw, got, err, want, werr)
		}
	}
	if !plainQuery("format=text") || !plainQuery("wait=30s&format=json&download=1") || plainQuery("format=text&format=json") ||
		plainQuery("a%20b=1") || plainQuery("a+b=1") || plainQuery("a=1;b=2") || plainQuery("a=1&b=2&c=3&d=4") {
		t.Fatal("plainQuery does not take what it says")
	}
	q := "format=text"
	if n := testing.AllocsPerRun(100, func() { _, _ = parseFactorialQuery(q) }); n != 0 {
		t.Fatalf("parseFactorialQuery(%q) allocates %v times", q, n)
	}
}

// FuzzNegotiate: any Accept header gives one of the offers or "not acceptable", and never
// panics.
func FuzzNegotiate(f *testing.F) {
	for _, seed := range []string{"", "*/*", "text/plain", "application/json;q=0.1, text/plain", "text/*;q=0",
		"*/*;q=0", "application/json;q=1.5", "application/json;q=abc", ";;;,,,", "/", "text/plain;q=0.0001",
		strings.Repeat("a/b;q=0.5,", 500), "application/json;q=0;q=1", "APPLICATION/JSON"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		media, ok := negotiate(accept, mediaJSON, mediaText)
		if ok && media != mediaJSON && media != mediaText {
			t.Fatalf("%q chose %q", accept, media)
		}
		if !ok && strings.TrimSpace(accept) == "" {
			t.Fatalf("an empty Accept must accept anything")
		}
	})
}

// gzip is sent only where Accept-Encoding allows it, q-values read: "gzip;q=0" refuses it.
func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "gzip, deflate, br": true, "deflate, GZIP;q=0.5": true, "x-gzip": true,
		"gzip;q=0": false, "gzip;q=0.000": false, "br": false, "*": true, "*;q=0": false,
		"gzip;q=0, *": false, "*, gzip;q=0": false, "gzipped": false, "gzip;q=nonsense": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// Content-Type is given once, and Content-Encoding is read whole: given on several lines, it
// is one list (RFC 9110, section 5.3), where the first line alone would let "identity" and
// then "gzip" pass as uncompressed.
func TestBodyHeadersOnSeveralLines(t *testing.T) {
	for _, tt := range []struct{ name, value string }{
		{"Content-Type", "text/plain"},
		{"Content-Type", "application/json"},
		{"Content-Encoding", "gzip"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/factorial", strings.NewReader(`{"number": 5}`))
		r.Header.Set("Content-Type", "application/json")
		if tt.name == "Content-Encoding" {
			r.Header.Set("Content-Encoding", "identity")
		}
		r.Header.Add(tt.name, tt.value)
		var p *Problem
		if _, err := readNumberRequest(r, testMax); !errors.As(err, &p) || p.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%s given again as %q: %v, want a 415", tt.name, tt.value, err)
		}
	}
}
