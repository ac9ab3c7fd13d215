package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// RateLimit is the token bucket every client has for POST; its fields are environment
// variables. A client is its API key where keys are on, otherwise its address.
type RateLimit struct {
	RPS   float64 `env:"RATE_LIMIT_RPS" envDefault:"50"`    // tokens a second; 0 turns the limit off
	Burst int     `env:"RATE_LIMIT_BURST" envDefault:"200"` // the bucket's size
}

func (r RateLimit) validate() error {
	switch {
	case r.RPS < 0 || math.IsNaN(r.RPS) || math.IsInf(r.RPS, 0):
		return errors.New("RATE_LIMIT_RPS must be 0 (off) or more")
	case r.RPS > 0 && r.Burst < 1:
		return errors.New("RATE_LIMIT_BURST must be 1 or more")
	}
	return nil
}

// maxLimiters bounds the clients whose buckets are kept; the least recently seen is forgotten
// first (it comes back with a full bucket, which is the state a quiet client's would reach).
const maxLimiters = 10_000

// rateLimiter holds one token bucket per client, at most maxLimiters of them.
type rateLimiter struct {
	limit  rate.Limit
	burst  int
	policy string // the RateLimit-Policy header

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *rate.Limiter]
}

// newRateLimiter returns the limiter of cfg, or nil when it is off.
func newRateLimiter(cfg RateLimit) *rateLimiter {
	if cfg.RPS <= 0 {
		return nil
	}
	buckets, _ := simplelru.NewLRU[string, *rate.Limiter](maxLimiters, nil) // only fails for a size <= 0
	burst := max(cfg.Burst, 1)
	window := int(math.Ceil(float64(burst) / cfg.RPS))
	return &rateLimiter{
		limit: rate.Limit(cfg.RPS), burst: burst, buckets: buckets,
		policy: fmt.Sprintf(`"post";q=%d;w=%d`, burst, window),
	}
}

func (l *rateLimiter) bucket(client string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(client)
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets.Add(client, b)
	}
	return b
}

// admit takes a token from the client's bucket for a POST, and answers 429 with Retry-After
// when there is none. Every POST answer carries the IETF draft's RateLimit-Policy and
// RateLimit headers (draft-ietf-httpapi-ratelimit-headers: the quota q in a window of w
// seconds, r remaining, t seconds until the bucket is full again). A nil limiter admits all.
func (l *rateLimiter) admit(c echo.Context) error {
	req := c.Request()
	if l == nil || req.Method != http.MethodPost {
		return nil
	}
	b := l.bucket(clientID(req))
	now := time.Now()
	r := b.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	h := c.Response().Header()
	h.Set("RateLimit-Policy", l.policy)
	if delay > 0 {
		r.CancelAt(now) // nothing was taken
		h.Set("RateLimit", l.state(b.TokensAt(now)))
		secs := strconv.Itoa(int(math.Ceil(delay.Seconds())))
		return problem(http.StatusTooManyRequests,
			"this client may POST %g requests a second (bursts of %d); try again in %s s", float64(l.limit), l.burst, secs).
			With("Retry-After", secs)
	}
	h.Set("RateLimit", l.state(b.TokensAt(now)))
	return nil
}

// state is the RateLimit header of a bucket holding tokens.
func (l *rateLimiter) state(tokens float64) string {
	tokens = max(tokens, 0)
	full := math.Ceil((float64(l.burst) - tokens) / float64(l.limit))
	return fmt.Sprintf(`"post";r=%d;t=%d`, int(tokens), int(full))
}
