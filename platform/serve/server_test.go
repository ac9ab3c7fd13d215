package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/serve"
)

// start serves h like the services do, on a listener of at most maxConns connections.
func start(t *testing.T, h http.Handler, maxConns int) string {
	t.Helper()
	ln, err := serve.Listen("127.0.0.1:0", serve.Config{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.NewServer("", h, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// rawRequest sends req on a new connection and returns the status line and headers of the
// answer, or the error that ended the connection.
func rawRequest(t *testing.T, addr, req string) (*http.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(c), nil)
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
		return
	}
	_, _ = io.WriteString(w, "ok")
})

// A client that sends its headers and then stalls in its body is cut off within 15 s.
func TestStalledBodyIsCut(t *testing.T) {
	t.Parallel()
	addr := start(t, ok, 10)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"num")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, c) // until the server answers and closes, or cuts
	if took := time.Since(begin); took > 15*time.Second {
		t.Fatalf("a stalled body held the connection %v", took)
	}
}

// Past the connection limit a new client gets a 503 problem with Retry-After at once, while
// the connections already open are still served; a freed place is taken again.
func TestConnectionLimit(t *testing.T) {
	addr := start(t, ok, 3)
	var open []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	resp, err := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if err != nil {
		t.Fatalf("past the limit: %v, want a 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "connections open") {
		t.Fatalf("past the limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	_ = open[0].SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(open[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(open[0]), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("an open connection is not served: %v", err)
	}

	open[1].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed place was not taken again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Headers are bounded: tens of KiB.
func TestLargeHeadersAreRefused(t *testing.T) {
	addr := start(t, ok, 10)
	resp, err := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes="+strings.Repeat("0-0,", 100_000)+"0-0\r\n\r\n")
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		t.Logf("connection ended with %v", err)
	}
	if resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 400 KB header: %v %v", resp, err)
	}
}

// The bound is MaxHeaderBytes (32 KiB) for the request line and headers together, as the
// README says, not net/http's MaxHeaderBytes plus the 4 KiB it reads beyond it: a request
// a little over 32 KiB is refused, one a little under is served, body and all.
func TestHeaderBoundIsMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	addr := start(t, ok, 10)
	for _, c := range []struct {
		size int // request line and headers, CRLFs included
		want int
	}{
		{serve.MaxHeaderBytes - 512, http.StatusOK},
		{serve.MaxHeaderBytes + 512, http.StatusRequestHeaderFieldsTooLarge},
	} {
		head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Pad: "
		req := head + strings.Repeat("a", c.size-len(head)-len("\r\n\r\n")) + "\r\n\r\nhi"
		resp, err := rawRequest(t, addr, req)
		if resp == nil || resp.StatusCode != c.want {
			t.Errorf("%d bytes of request line and headers: %v %v, want %d", c.size, resp, err, c.want)
		}
	}
}

// connPair is a connection accepted by Listen (the server's side) and its client, which
// reads nothing until told.
func connPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := serve.Listen("127.0.0.1:0", serve.Config{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// fill writes to c until a write fails, and returns how long that took.
func fill(t *testing.T, c net.Conn, begin time.Time) time.Duration {
	t.Helper()
	buf := make([]byte, 64<<10)
	for range 1 << 14 { // 1 GB: far more than the socket buffers hold
		if _, err := c.Write(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %v, want the deadline's error", err)
			}
			return time.Since(begin)
		}
	}
	t.Fatal("1 GB written to a client that reads nothing")
	return 0
}

// A write deadline cuts a client that does not read, and is moved lazily: a move on by less
// than a second keeps the deadline in force (never later than asked), a larger one moves it.
func TestWriteDeadlineMovesLazily(t *testing.T) {
	t.Parallel()
	t.Run("kept", func(t *testing.T) {
		t.Parallel()
		server, _ := connPair(t)
		begin := time.Now()
		_ = server.SetWriteDeadline(begin.Add(2 * time.Second))
		_ = server.SetWriteDeadline(begin.Add(2900 * time.Millisecond)) // on by 0.9 s: kept at 2 s
		if took := fill(t, server, begin); took < 2*time.Second || took >= 2900*time.Millisecond {
			t.Fatalf("the write was cut after %v, want from 2 s (the deadline kept) to 2.9 s", took)
		}
	})
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		server, _ := connPair(t)
		begin := time.Now()
		_ = server.SetWriteDeadline(begin.Add(500 * time.Millisecond))
		_ = server.SetWriteDeadline(begin.Add(2 * time.Second)) // on by 1.5 s: moved
		if took := fill(t, server, begin); took < 2*time.Second {
			t.Fatalf("the write was cut after %v, before the deadline of 2 s", took)
		}
	})
	t.Run("back", func(t *testing.T) {
		t.Parallel()
		server, _ := connPair(t)
		begin := time.Now()
		_ = server.SetWriteDeadline(begin.Add(time.Hour))
		_ = server.SetWriteDeadline(begin.Add(500 * time.Millisecond)) // back: moved
		if took := fill(t, server, begin); took < 500*time.Millisecond || took > 20*time.Second {
			t.Fatalf("the write was cut after %v, want soon after 0.5 s", took)
		}
	})
}

// No write deadline, asked for after one was set (as net/http does after every answer), is
// in force at the next write: a deadline that passed meanwhile does not fail it.
func TestNoWriteDeadlineAtTheNextWrite(t *testing.T) {
	t.Parallel()
	server, client := connPair(t)
	_ = server.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = server.SetWriteDeadline(time.Time{})
	time.Sleep(300 * time.Millisecond)
	if _, err := server.Write([]byte("ok")); err != nil {
		t.Fatalf("write with no deadline asked for: %v", err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q: %v", buf, err)
	}
}

// A request in chunks, or of HTTP/1.0, has its connection closed after its answer. Go's
// server drops a Content-Length sent beside Transfer-Encoding, and ignores Transfer-Encoding
// in HTTP/1.0, and keeps the connection either way; behind a proxy that framed the request
// otherwise, the rest would be read as a request the proxy never saw (request smuggling).
// RFC 9112, section 6.1: close the connection after such a request.
func TestChunkedRequestClosesItsConnection(t *testing.T) {
	t.Parallel()
	addr := start(t, ok, 10)
	for name, req := range map[string]string{
		"Content-Length beside chunked": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		"HTTP/1.0 in chunks": "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"GET /smuggled HTTP/1.0\r\nHost: x\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, req)
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%s: the connection was not closed after the answer: %v (read %q)", name, err, got)
		}
		if n := strings.Count(string(got), " 200 OK"); n != 1 {
			t.Fatalf("%s: %d answers, want 1 (the second request must not be read):\n%s", name, n, got)
		}
	}
}
