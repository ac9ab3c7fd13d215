package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

// headerSlop is what net/http reads beyond an http.Server's MaxHeaderBytes before it answers
// 431 (initialReadLimitSize in net/http: "bufio slop").
const headerSlop = 4096

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
		// net/http reads up to 4 KiB beyond MaxHeaderBytes before it refuses (its bufio slop),
		// so it is told that much less: the bound a client meets is MaxHeaderBytes.
		MaxHeaderBytes: MaxHeaderBytes - headerSlop,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// bounded gives every request a deadline to send its body in, and its response one to be
// written in (see the constants). A request in chunks, or of HTTP/1.0, has its connection
// closed after its answer: net/http drops a Content-Length sent beside Transfer-Encoding, and
// in HTTP/1.0 drops Transfer-Encoding itself, without a word, and keeps the connection, where
// RFC 9112 (section 6.1) has it closed, so that what a proxy framed otherwise cannot be read
// here as a request of its own (smuggling). Clients of HTTP/1.0 rarely keep connections.
func bounded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 || !r.ProtoAtLeast(1, 1) {
			w.Header().Set("Connection", "close")
		}
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
	return &limitListener{Listener: ln, max: int64(max(cfg.MaxConns, 1)), turningAway: make(chan struct{}, 64)}, nil
}

// limitListener counts the connections it hands out until they are closed.
type limitListener struct {
	net.Listener
	max         int64
	open        atomic.Int64
	turningAway chan struct{} // bounds the connections being answered 503 at once
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &countedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
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

// countedConn gives its place back when closed, and moves its write deadline lazily.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()

	mu      sync.Mutex
	writeBy time.Time // the write deadline in force; zero: none
	unset   bool      // no deadline was asked for since: put in force before the next write
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SetWriteDeadline moves the write deadline only when it moves back, or on by a second or
// more (writeSlack): bounded asks for one on every request, now + WriteTimeout, and each move
// costs two clock reads and a change of the runtime's timer. A write's deadline is thus never
// later than asked, and at most a second earlier. No deadline (t zero: net/http asks for it
// after every answer) is put in force at the next write, so that a connection whose next
// request comes within the second keeps the deadline it has.
func (c *countedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() {
		c.unset = !c.writeBy.IsZero()
		return nil
	}
	c.unset = false
	if d := t.Sub(c.writeBy); !c.writeBy.IsZero() && d >= 0 && d < writeSlack {
		return nil
	}
	c.writeBy = t
	return c.Conn.SetWriteDeadline(t)
}

// writeSlack is how much earlier than asked a write deadline may fall (SetWriteDeadline).
const writeSlack = time.Second

// SetDeadline sets both deadlines, the write one as SetWriteDeadline does.
func (c *countedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *countedConn) Write(b []byte) (int, error) {
	if err := c.settle(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// ReadFrom keeps the kernel's copy (sendfile, splice) of the connection underneath.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.settle(); err != nil {
		return 0, err
	}
	return io.Copy(c.Conn, r)
}

// settle clears the write deadline before a write when none was asked for since it was set.
func (c *countedConn) settle() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.unset {
		return nil
	}
	c.unset, c.writeBy = false, time.Time{}
	return c.Conn.SetWriteDeadline(time.Time{})
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
