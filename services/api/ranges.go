package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxRanges is the most byte ranges one request may ask for: with no two of them
// overlapping, a response is never much larger than its object (a multipart part costs
// about a hundred bytes of headers), however the Range header is written.
const maxRanges = 8

// byteRange is the request's Range header when its unit is bytes, the one unit served. A
// Range in another unit is removed from the request and "" returned: RFC 9110 (section 14.2)
// has a server ignore it, where http.ServeContent would answer it 416.
func byteRange(req *http.Request) string {
	rng := req.Header.Get("Range")
	if rng != "" && !strings.HasPrefix(rng, "bytes=") {
		req.Header.Del("Range")
		return ""
	}
	return rng
}

// checkRanges refuses, with a 416 problem, a Range header of more than maxRanges ranges, of
// ranges that overlap or of an empty suffix ("-0"), on a representation of size bytes. Anything else (no Range, one
// that does not parse, ranges that are unsatisfiable) is left to http.ServeContent.
func checkRanges(header string, size int64) *Problem {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || header == "" {
		return nil
	}
	type span struct{ start, end int64 } // [start, end)
	var spans []span
	count := 0
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if count++; count > maxRanges {
			return rangeProblem(size, fmt.Sprintf("at most %d ranges may be asked for at once", maxRanges))
		}
		first, last, ok := strings.Cut(part, "-")
		if !ok {
			return nil // malformed: ServeContent answers it
		}
		var s span
		switch {
		case first == "": // the last n bytes
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return nil
			}
			if n == 0 {
				// Unsatisfiable (RFC 9110, section 14.1.1), where http.ServeContent would
				// answer 206 with an empty part and a Content-Range of "bytes size-(size-1)/size".
				return rangeProblem(size, "a suffix of 0 bytes selects nothing")
			}
			s = span{max(size-n, 0), size}
		default:
			a, err := strconv.ParseInt(first, 10, 64)
			if err != nil || a < 0 {
				return nil
			}
			b := size - 1
			if last != "" {
				if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
					return nil
				}
			}
			s = span{a, min(b+1, size)}
		}
		if s.start < s.end {
			spans = append(spans, s)
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return int(min(max(a.start-b.start, -1), 1)) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return rangeProblem(size, "ranges must not overlap")
		}
	}
	return nil
}

func rangeProblem(size int64, why string) *Problem {
	return problem(http.StatusRequestedRangeNotSatisfiable,
		"%s; ask for at most %d ranges, none overlapping, within the %d bytes", why, maxRanges, size).
		With("Content-Range", fmt.Sprintf("bytes */%d", size))
}
