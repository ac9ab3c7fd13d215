package testenv_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/testenv"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line and reads it back within d.
func roundTrip(c net.Conn, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		err = errors.New("echo garbled: " + line)
	}
	return err
}

func TestProxy(t *testing.T) {
	p := testenv.NewProxy(t, echoServer(t))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	open := dial()
	if err := roundTrip(open, 5*time.Second); err != nil {
		t.Fatalf("open: %v", err)
	}

	p.BlackHole()
	if err := roundTrip(open, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("black hole, open connection: %v, want a timeout", err)
	}
	if err := roundTrip(dial(), 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("black hole, new connection: %v, want a timeout", err)
	}

	p.Restore()
	if err := roundTrip(dial(), 5*time.Second); err != nil {
		t.Fatalf("restored: %v", err)
	}
	kept := dial()
	if err := roundTrip(kept, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	if err := roundTrip(kept, 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("cut, open connection: %v, want it closed at once", err)
	}
	if err := roundTrip(dial(), 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("cut, new connection: %v, want it closed at once", err)
	}

	p.Restore()
	if err := roundTrip(dial(), 5*time.Second); err != nil {
		t.Fatalf("restored after the cut: %v", err)
	}
}
