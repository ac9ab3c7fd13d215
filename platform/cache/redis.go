package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/factorial-service/factorial/platform/batch"
	"github.com/factorial-service/factorial/platform/telemetry"
)

var _ Cache = (*Redis)(nil)

// Redis is a Cache in Redis (or Valkey): every key is stored as prefix+key, so several
// services or test runs can share one database.
//
// Gets and sets from many goroutines at once go to Redis together: while one pipeline is on
// the wire, the commands that arrive queue up, and the next pipeline sends all of them (one
// write and one read for many commands). An API under a crowd reads the cache once per GET
// and writes it once per result; a round trip each was a fifth of its CPU in make
// bench-load's tiny workload (system calls and wake-ups). A command that comes alone goes
// at once. The commands of one caller keep their order: each returns once Redis answered it.
//
// A command that cannot reach Redis (a dial refused or timed out: Redis is down or
// restarting) makes the cache answer every command at once with ErrSkipped for the next
// second (downFor) instead of dialing again: for a cache of copies, each request would
// otherwise pay go-redis's retries (up to cacheWait each, live: 200 to 300 ms a request).
// A Ping that succeeds ends that second early.
type Redis struct {
	client    redis.UniversalClient
	prefix    string
	pipes     *batch.Group[*redisOp, redisResult]
	downUntil atomic.Int64 // Unix nanoseconds: until then Redis is not asked
}

// downFor is how long the cache skips Redis after a command could not reach it.
const downFor = time.Second

// ErrSkipped is the error of a command not sent: Redis could not be reached less than
// downFor ago.
var ErrSkipped = errors.New("redis unreachable a moment ago: not asked")

// skipped tells whether Redis was unreachable less than downFor ago.
func (r *Redis) skipped() bool { return time.Now().UnixNano() < r.downUntil.Load() }

// noteDown starts downFor when err says Redis could not be reached.
func (r *Redis) noteDown(err error) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		r.downUntil.Store(time.Now().Add(downFor).UnixNano())
	}
}

// redisOp is a get (value == nil) or a set waiting for its pipeline.
type redisOp struct {
	ctx   context.Context
	key   string
	value []byte
	ttl   time.Duration
}

type redisResult struct {
	value []byte
	err   error
}

// Bounds of the pipelines: commands in one, and the time one may take (each caller waits
// at most until its own context ends).
const (
	maxPipeline     = 256
	pipelineTimeout = 5 * time.Second
)

// NewRedis returns a cache on client whose keys all start with prefix (for example
// "factorial:api:"). The caller keeps ownership of client.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	r := &Redis{client: client, prefix: prefix}
	r.pipes = batch.New(maxPipeline, r.send)
	return r
}

// OpenRedis connects to the redis:// or rediss:// URL in rawURL (the REDIS_URL setting).
// It does not contact the server: call Ping. Close the cache to close the connection pool.
func OpenRedis(rawURL, prefix string) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: REDIS_URL %s is not a valid redis:// URL: %w", redact(rawURL), err)
	}
	// One dial per attempt: go-redis dials 5 times 100 ms apart by default, so every lookup
	// of a Redis that refuses connections waited 500 ms (every request of the API, for a
	// cache of copies). The pool still dials again on the next command.
	opts.DialerRetries = 1
	client := redis.NewClient(opts)
	if err := telemetry.InstrumentRedis(client); err != nil { // a span per command while tracing is on
		_ = client.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	return NewRedis(client, prefix), nil
}

// Close closes the client, which OpenRedis created (after NewRedis, it is the caller's).
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("cache: close: %w", err)
	}
	return nil
}

// Get returns the value under key, or ErrMiss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	res := r.do(ctx, &redisOp{key: key})
	if errors.Is(res.err, redis.Nil) {
		return nil, ErrMiss
	}
	if res.err != nil {
		return nil, fmt.Errorf("cache: get %q: %w", key, res.err)
	}
	return res.value, nil
}

// Set stores value under key for ttl (no expiry if ttl <= 0; Redis keeps milliseconds).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	switch {
	case ttl <= 0:
		ttl = 0 // go-redis reads a negative ttl as KEEPTTL
	case ttl < time.Millisecond:
		ttl = time.Millisecond
	}
	// A copy: the caller may reuse value as soon as it returns, even while the command still
	// waits for its pipeline (a caller whose context ended). Never nil: nil marks a get.
	value = append(make([]byte, 0, len(value)), value...)
	if res := r.do(ctx, &redisOp{key: key, value: value, ttl: ttl}); res.err != nil {
		return fmt.Errorf("cache: set %q: %w", key, res.err)
	}
	return nil
}

// do queues op for the next pipeline and waits for its answer, or for ctx to end.
func (r *Redis) do(ctx context.Context, op *redisOp) redisResult {
	if err := ctx.Err(); err != nil {
		return redisResult{err: err}
	}
	if r.skipped() {
		return redisResult{err: ErrSkipped}
	}
	op.ctx = ctx
	res, err := r.pipes.Do(ctx, op)
	if err != nil {
		return redisResult{err: err}
	}
	r.noteDown(res.err)
	return res
}

// send sends ops in one pipeline and returns their answers, in order.
func (r *Redis) send(ops []*redisOp) []redisResult {
	results := make([]redisResult, len(ops))
	// Callers that already left are not sent (nobody reads their results).
	live := make([]int, 0, len(ops))
	for i, op := range ops {
		if op.ctx.Err() == nil {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return results
	}
	// The first caller's context carries the trace (and its values); the pipeline is bounded
	// on its own, since any caller may leave.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ops[live[0]].ctx), pipelineTimeout)
	defer cancel()
	if len(live) == 1 {
		results[live[0]] = r.one(ctx, ops[live[0]])
		return results
	}
	pipe := r.client.Pipeline()
	cmds := make([]redis.Cmder, len(live))
	for k, i := range live {
		if op := ops[i]; op.value == nil {
			cmds[k] = pipe.Get(ctx, r.prefix+op.key)
		} else {
			cmds[k] = pipe.Set(ctx, r.prefix+op.key, op.value, op.ttl)
		}
	}
	_, _ = pipe.Exec(ctx) // each command's error is its own
	for k, i := range live {
		switch c := cmds[k].(type) {
		case *redis.StringCmd:
			results[i].value, results[i].err = c.Bytes()
		default:
			results[i].err = c.Err()
		}
	}
	return results
}

// one sends a command alone.
func (r *Redis) one(ctx context.Context, op *redisOp) redisResult {
	if op.value == nil {
		b, err := r.client.Get(ctx, r.prefix+op.key).Bytes()
		return redisResult{value: b, err: err}
	}
	return redisResult{err: r.client.Set(ctx, r.prefix+op.key, op.value, op.ttl).Err()}
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if r.skipped() {
		return fmt.Errorf("cache: delete %q: %w", key, ErrSkipped)
	}
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		r.noteDown(err)
		return fmt.Errorf("cache: delete %q: %w", key, err)
	}
	return nil
}

// Ping checks that Redis answers, whether or not the commands skip it; an answer ends
// their skipping.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.noteDown(err)
		return fmt.Errorf("cache: ping redis: %w", err)
	}
	r.downUntil.Store(0)
	return nil
}

// redact hides the password of a URL, or the whole value if it does not parse.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("%q", u.Redacted())
}
