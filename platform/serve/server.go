package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of every HTTP server of the service. Streaming handlers (Server-Sent Events, long
// waits, large downloads) move their own write deadline with http.ResponseController.
const (
	HeaderTimeout  = 10 * time.Second  // to read a request's headers
	BodyTimeout    = 10 * time.Second  // to read a request's body, from the end of its headers
	WriteTimeout   = 30 * time.Second  // to write a response (or, streaming, to make progress)
	IdleTimeout    = 120 * time.Second // a kept-alive connection without a request
	MaxHeaderBytes = 32 << 10          // request line and headers
)

// Config bounds a server; its fields are environment variables.
type Config struct {
	MaxConns int `env:"HTTP_MAX_CONNECTIONS" envDefault:"4096"` // open connections; keep it below the process's open-file limit
}

// Validate checks what parsing alone cannot.
func (c Config) Validate() error {
	if c.MaxConns < 1 {
		return errors.New("HTTP_MAX_CONNECTIONS must be 1 or more")
	}
	return nil
}

// NewServer returns a server of h on addr with the service's bounds: header, body, write and
// idle timeouts and MaxHeaderBytes. Serve it on a listener from Listen, which bounds the
// open connections. Errors of the server itself (a broken connection, a bad TLS handshake)
// go to log at debug.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           bounded(h),
		ReadHeaderTimeout: HeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// bounded gives every request a deadline to send its body in, and its response one to be
// written in (see the constants).
func bounded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(now.Add(BodyTimeout))
		}
		_ = rc.SetWriteDeadline(now.Add(WriteTimeout))
		h.ServeHTTP(w, r)
	})
}

// Listen listens on addr (its errors name HTTP_ADDR) for at most cfg.MaxConns open
// connections. A connection past that many is answered at once with a 503 problem
// (Retry-After: 1) and closed, without reaching the server: a crowd gets a clear answer while
// the connections already open are served.
func Listen(addr string, cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	return &limitListener{Listener: ln, max: int64(max(cfg.MaxConns, 1)), turningAway: make(chan struct{}, 64),
		watch: newReadWatch()}, nil
}

// limitListener counts the connections it hands out until they are closed, and watches their
// read deadlines (readWatch).
type limitListener struct {
	net.Listener
	max         int64
	open        atomic.Int64
	turningAway chan struct{} // bounds the connections being answered 503 at once
	watch       *readWatch
}

func (l *limitListener) Close() error {
	l.watch.close()
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			cc := &countedConn{Conn: c, watch: l.watch}
			cc.release = func() { l.watch.remove(cc); l.open.Add(-1) }
			l.watch.add(cc)
			return cc, nil
		}
		l.open.Add(-1)
		select {
		case l.turningAway <- struct{}{}:
			go func() {
				turnAway(c, l.max)
				<-l.turningAway
			}()
		default:
			_ = c.Close() // a flood: too many to answer even that
		}
	}
}

// countedConn gives its place back when closed, and keeps its write deadline lazily.
//
// Every request moves the write deadline forward (bounded: now + WriteTimeout) and net/http
// drops it once the answer is written: two changes of a runtime timer per request, most of
// the cost of the bounds. Here a deadline later than the one set on the connection, or none,
// is only noted (want); the connection keeps the earlier one (armed), so a write is never
// allowed past the deadline asked for. When the earlier one fires before want, the write
// that sees it sets want and goes on where it stopped (early). A deadline earlier than the
// one set is set at once. So a connection's timer is set about once per WriteTimeout, not
// twice per request.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()

	mu    sync.Mutex
	want  time.Time // the write deadline asked for; zero: none
	armed time.Time // the one set on Conn, never later than want; zero: none
	exact int       // ReadFrom calls running: the deadline asked for is set as it is

	watch *readWatch // nil: read deadlines are set on Conn as they come
	rmu   sync.Mutex
	rwant time.Time // the read deadline asked for; zero: none
	rcut  bool      // a deadline in the past is set on Conn: a read is being woken or cut
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SetWriteDeadline notes t, and sets it on the connection when it is earlier than the one
// set there (or while ReadFrom runs).
func (c *countedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	if c.exact == 0 && (t.IsZero() || !c.armed.IsZero() && !t.Before(c.armed)) {
		return nil // later than the one set, or none: that one fires first, see early
	}
	c.armed = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *countedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline notes t for the watch to enforce (readWatch). A deadline already past (how
// net/http wakes the read it leaves waiting under each request, twice per request) is set on
// the connection at once; the next deadline then takes it off.
func (c *countedConn) SetReadDeadline(t time.Time) error {
	if c.watch == nil {
		return c.Conn.SetReadDeadline(t)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rwant = t
	if !t.IsZero() && t.UnixNano() <= c.watch.now.Load() {
		c.rcut = true
		return c.Conn.SetReadDeadline(t)
	}
	if c.rcut {
		c.rcut = false
		return c.Conn.SetReadDeadline(time.Time{})
	}
	return nil
}

func (c *countedConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !c.uncut() {
			return n, err
		}
	}
}

// uncut reports whether the read deadline that cut a read is no longer due (moved later or
// dropped since), and then takes it off the connection, for the read to go on.
func (c *countedConn) uncut() bool {
	if c.watch == nil {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.rwant.IsZero() && !c.rwant.After(time.Now()) {
		return false
	}
	c.rcut = false
	return c.Conn.SetReadDeadline(time.Time{}) == nil
}

// cutIfDue cuts c's read when its read deadline has passed at now (readWatch).
func (c *countedConn) cutIfDue(now time.Time) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.rcut && !c.rwant.IsZero() && !c.rwant.After(now) {
		c.rcut = true
		_ = c.Conn.SetReadDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// readWatch enforces the read deadlines of a listener's connections from one goroutine,
// every readTick, instead of a runtime timer per connection: net/http moves a connection's
// read deadline four times per request (idle, headers, none, none), which cost more than
// the rest of a cached read's bounds. A deadline is so enforced up to readTick late (10 s to
// read headers is 10 to 10.25 s); one already past is set at once (SetReadDeadline).
type readWatch struct {
	mu    sync.Mutex
	conns map[*countedConn]struct{}
	now   atomic.Int64 // UnixNano at the last tick: a deadline before it is past
	stop  chan struct{}
	once  sync.Once
}

const readTick = 250 * time.Millisecond

func newReadWatch() *readWatch {
	w := &readWatch{conns: map[*countedConn]struct{}{}, stop: make(chan struct{})}
	w.now.Store(time.Now().UnixNano())
	go w.run()
	return w
}

func (w *readWatch) run() {
	t := time.NewTicker(readTick)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			now = time.Now() // the ticker's time may be late under load
			w.now.Store(now.UnixNano())
			w.mu.Lock()
			for c := range w.conns {
				c.cutIfDue(now)
			}
			w.mu.Unlock()
		}
	}
}

func (w *readWatch) add(c *countedConn) {
	w.mu.Lock()
	w.conns[c] = struct{}{}
	w.mu.Unlock()
}

func (w *readWatch) remove(c *countedConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

func (w *readWatch) close() { w.once.Do(func() { close(w.stop) }) }

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	for err != nil && n < len(b) && c.early(err) {
		var more int
		more, err = c.Conn.Write(b[n:])
		n += more
	}
	return n, err
}

// early reports whether err is the deadline set on the connection firing before the one
// asked for, and then sets that one, for the write to go on.
func (c *countedConn) early(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed.Equal(c.want) || !c.want.IsZero() && !time.Now().Before(c.want) {
		return false // the deadline asked for has passed
	}
	c.armed = c.want
	return c.Conn.SetWriteDeadline(c.want) == nil
}

// ReadFrom keeps the kernel's copy (sendfile, splice) of the connection underneath. A copy
// cannot go on after a deadline the way Write does (what was read and not written would be
// lost), so while it runs the deadline asked for is the one set.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	c.mu.Lock()
	c.exact++
	if !c.armed.Equal(c.want) {
		c.armed = c.want
		_ = c.Conn.SetWriteDeadline(c.want)
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.exact--
		c.mu.Unlock()
	}()
	return io.Copy(c.Conn, r)
}

// turnAway answers c with a 503 problem and closes it, reading what the client sent
// meanwhile (briefly) so that the close does not reset the connection before the client
// has read the answer.
func turnAway(c net.Conn, limit int64) {
	body := fmt.Sprintf(`{"type":"about:blank","title":"Service Unavailable","status":503,`+
		`"detail":"the server has %d connections open, its limit; try again in 1 s"}`, limit)
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
	_ = c.Close()
}
