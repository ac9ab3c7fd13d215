package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
)

// The answers and cache entries with digits in them are the bytes encoding/json makes
// (the digits copied in, not escaped one by one), whatever else the value holds.
func TestMarshalDigitsIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 16, 0, 0, 123456000, time.UTC)
	digits := strings.Repeat("0123456789", 3566)
	for name, text := range map[string]string{
		"digits": digits, "short": "120", "not digits": strings.Repeat("1\"<\n\u2028", 100), "empty": "",
	} {
		t.Run(name, func(t *testing.T) {
			rec := database.Record{Number: 10000, Status: database.StatusDone, Checksum: "ab", Size: int64(len(text)),
				Error: `"factorial_result":"0" "text":"0"`, Worker: `"text":"0"`, CreatedAt: at, UpdatedAt: at, ComputedAt: &at}
			res := result{Record: rec, Text: &text, Row: true}

			got, _ := renderFactorial(toFactorialJSON(res))
			want, _ := render(toFactorialJSON(res))
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from encoding/json:\n got %.300s\nwant %.300s", got, want)
			}

			got, err := marshalDigits(&res, &res.Text, "text", text)
			want, _ = json.Marshal(res)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("cache entry differs from encoding/json (%v):\n got %.300s\nwant %.300s", err, got, want)
			}
			if *res.Text != text {
				t.Errorf("the value's text was changed")
			}
		})
	}
}

// Answers from the process's memory carry their Content-Length, GET and HEAD, small (net/http
// adds it) and large (set with the entry), and none is chunked.
func TestCachedAnswersCarryTheirLength(t *testing.T) {
	f := newFixture(t)
	f.done(20)
	f.done(1000) // 2,568 digits: a JSON answer larger than net/http's buffer
	for _, target := range []string{"/api/v1/factorial/20", "/api/v1/factorial/metadata/20", "/api/v1/factorial/1000"} {
		f.do(http.MethodGet, target, "") // now cached
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, err := http.NewRequest(method, f.srv.URL+target, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			length := resp.Header.Get("Content-Length")
			if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) != 0 || length == "" {
				t.Fatalf("%s %s: %d, Transfer-Encoding %v, Content-Length %q", method, target, resp.StatusCode, resp.TransferEncoding, length)
			}
			if method == http.MethodGet && length != strconv.Itoa(len(body)) {
				t.Fatalf("GET %s: Content-Length %s for %d bytes", target, length, len(body))
			}
			if method == http.MethodGet && target == "/api/v1/factorial/1000" && len(body) <= autoLengthMax {
				t.Fatalf("the answer for 1000! is %d bytes: not past net/http's buffer", len(body))
			}
		}
	}
}
