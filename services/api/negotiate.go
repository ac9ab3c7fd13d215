package api

import (
	"net/http"
	"strings"
)

// Media types the API serves.
const (
	mediaJSON    = "application/json"
	mediaText    = "text/plain"
	mediaSSE     = "text/event-stream"
	mediaProblem = "application/problem+json"
)

// negotiate chooses among offers (in the server's order of preference) the one the Accept
// header ranks highest, following RFC 9110 §12.5.1: each offer gets the q of the most
// specific media range that matches it (type/subtype, then type/*, then */*), q=0 means "not
// acceptable", and ties go to the server's order. An absent or empty header accepts
// anything. ok is false when no offer is acceptable (answer 406).
//
// It allocates nothing, since it runs on every read.
func negotiate(accept string, offers ...string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return offers[0], true
	}
	best, bestQ := "", 0
	for _, offer := range offers {
		if q := acceptQ(accept, offer); q > bestQ {
			best, bestQ = offer, q
		}
	}
	return best, bestQ > 0
}

// acceptQ is the quality (0 to 1000) the Accept header gives offer, a type/subtype.
func acceptQ(accept, offer string) int {
	otype, osub, _ := strings.Cut(offer, "/")
	q, specificity := 0, -1
	for rest := accept; rest != ""; {
		var clause string
		clause, rest, _ = strings.Cut(rest, ",")
		mr, params, _ := strings.Cut(clause, ";")
		mr = strings.TrimSpace(mr)
		typ, sub, ok := strings.Cut(mr, "/")
		if !ok {
			continue // not a media range; ignored
		}
		var s int
		switch {
		case strings.EqualFold(typ, otype) && strings.EqualFold(sub, osub):
			s = 2
		case strings.EqualFold(typ, otype) && sub == "*":
			s = 1
		case typ == "*" && sub == "*":
			s = 0
		default:
			continue
		}
		if s > specificity {
			q, specificity = qValue(params), s
		}
	}
	return q
}

// qValue reads the q parameter of a media range's parameters ("; q=0.5; …"), as thousandths;
// 1000 when absent, 0 when malformed (a range we cannot read is not a reason to serve).
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(value))
	}
	return 1000
}

// parseQ parses a qvalue (RFC 9110: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]) as thousandths.
func parseQ(v string) int {
	whole, frac, _ := strings.Cut(v, ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 {
		return 0
	}
	q := 0
	for i := range 3 {
		q *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0
			}
			q += int(c - '0')
		}
	}
	if whole == "1" {
		return 1000
	}
	return q
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3): gzip
// (or x-gzip) named with a q above 0, or else "*" with a q above 0. "gzip;q=0" refuses it.
func acceptsGzip(acceptEncoding string) bool {
	named, star := -1, -1
	for rest := acceptEncoding; rest != ""; {
		var clause string
		clause, rest, _ = strings.Cut(rest, ",")
		coding, params, _ := strings.Cut(clause, ";")
		switch coding = strings.TrimSpace(coding); {
		case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
			named = max(named, qValue(params))
		case coding == "*":
			star = qValue(params)
		}
	}
	if named >= 0 {
		return named > 0
	}
	return star > 0
}

// headerValue is h.Get(key) for a key already in canonical form (the echo.Header…
// constants), without canonicalising it again on every request.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
