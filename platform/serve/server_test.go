package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
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
