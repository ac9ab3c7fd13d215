package api

import (
	"bytes"
	"encoding/json"
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
