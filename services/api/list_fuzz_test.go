package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseListQuery: any query of GET /api/v1/factorial is either read (statuses valid and
// each once, a limit from 1 to the maximum, a cursor this server could have given) or refused
// with a one-line 400.
func FuzzParseListQuery(f *testing.F) {
	for _, seed := range []string{"", "status=done", "status=done,failed&limit=50", "status=pending,pending",
		"status=", "status=DONE", "limit=0", "limit=201", "limit=05", "limit=-1", "limit=1e2",
		"cursor=MTc2NDE1MDQwMDAwMDAwMC41", "cursor=!!!", "cursor=" + strings.Repeat("A", 100),
		"limit=1&limit=2", "a=%zz", "status=done;limit=5", strings.Repeat("status=done&", 500), "\xff=\xfe"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseListQuery(raw)
		if err != nil {
			oneLine(t, err, http.StatusBadRequest)
			return
		}
		if q.Limit < 1 || q.Limit > listMaxLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		for i, st := range q.Statuses {
			if !st.Valid() || slices.Contains(q.Statuses[:i], st) {
				t.Fatalf("%q: statuses %v", raw, q.Statuses)
			}
		}
		if q.After != nil && q.After.Number < 0 {
			t.Fatalf("%q: cursor %+v", raw, q.After)
		}
		if _, err := url.ParseQuery(raw); err != nil {
			t.Fatalf("%q accepted but malformed: %v", raw, err)
		}
	})
}
