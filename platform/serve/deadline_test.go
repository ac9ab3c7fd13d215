package serve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a countedConn of a loopback connection, and the other end of it.
func pair(t *testing.T) (*countedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return &countedConn{Conn: server, release: func() {}}, client
}

// big is more than loopback's buffers hold, so a write of it waits for the reader.
var big = make([]byte, 64<<20)

// The write deadline is kept lazily, and yet: a deadline moved later lets a write go on past
// the earlier one, a deadline dropped lets it go on without end, and a deadline that passes
// cuts the write (and one moved earlier cuts it at the earlier time).
func TestLazyWriteDeadline(t *testing.T) {
	t.Parallel()
	t.Run("moved later", func(t *testing.T) {
		t.Parallel()
		c, client := pair(t)
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second)) // noted, not set
		if !c.armed.Before(c.want) {
			t.Fatal("a later deadline was set on the connection: nothing to measure")
		}
		go func() { time.Sleep(400 * time.Millisecond); _, _ = io.Copy(io.Discard, client) }()
		if n, err := c.Write(big); err != nil || n != len(big) {
			t.Fatalf("wrote %d of %d: %v", n, len(big), err)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		c, client := pair(t)
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_ = c.SetWriteDeadline(time.Time{})
		time.Sleep(200 * time.Millisecond) // the deadline set fires while nothing is written
		go func() { time.Sleep(200 * time.Millisecond); _, _ = io.Copy(io.Discard, client) }()
		if n, err := c.Write(big); err != nil || n != len(big) {
			t.Fatalf("wrote %d of %d: %v", n, len(big), err)
		}
	})
	t.Run("passed", func(t *testing.T) {
		t.Parallel()
		c, _ := pair(t) // nobody reads
		begin := time.Now()
		_ = c.SetWriteDeadline(begin.Add(100 * time.Millisecond))
		_ = c.SetWriteDeadline(begin.Add(300 * time.Millisecond))
		n, err := c.Write(big)
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == len(big) {
			t.Fatalf("wrote %d of %d: %v; want the deadline", n, len(big), err)
		}
		if took := time.Since(begin); took < 250*time.Millisecond || took > 5*time.Second {
			t.Fatalf("cut after %v, want about 300 ms", took)
		}
	})
	t.Run("moved earlier", func(t *testing.T) {
		t.Parallel()
		c, _ := pair(t)
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		begin := time.Now()
		if _, err := c.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v; want the deadline", err)
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Fatalf("cut after %v, want about 200 ms", took)
		}
	})
	t.Run("ReadFrom keeps the deadline asked for", func(t *testing.T) {
		t.Parallel()
		c, _ := pair(t)
		f, err := os.CreateTemp(t.TempDir(), "big")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(big); err != nil {
			t.Fatal(err)
		}
		_, _ = f.Seek(0, io.SeekStart)
		begin := time.Now()
		_ = c.SetWriteDeadline(begin.Add(100 * time.Millisecond))
		_ = c.SetWriteDeadline(begin.Add(300 * time.Millisecond))
		if _, err := c.ReadFrom(f); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v; want the deadline", err)
		}
		if took := time.Since(begin); took < 250*time.Millisecond || took > 5*time.Second {
			t.Fatalf("cut after %v, want about 300 ms", took)
		}
	})
}

// watched returns a countedConn whose read deadlines a readWatch of its own enforces, and the
// other end of its connection.
func watched(t *testing.T) (*countedConn, net.Conn) {
	t.Helper()
	c, client := pair(t)
	c.watch = newReadWatch()
	t.Cleanup(c.watch.close)
	c.watch.add(c)
	return c, client
}

// Read deadlines are noted and enforced by the watch, and yet: a read past its deadline is
// cut (at most readTick late), a deadline in the past wakes a waiting read at once (net/http
// does so under every request), and a deadline that passed while nothing was read, then
// moved later or dropped, lets the next read go on.
func TestWatchedReadDeadline(t *testing.T) {
	t.Parallel()
	t.Run("passed", func(t *testing.T) {
		t.Parallel()
		c, _ := watched(t)
		begin := time.Now()
		_ = c.SetReadDeadline(begin.Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v; want the deadline", err)
		}
		if took := time.Since(begin); took < 300*time.Millisecond || took > 300*time.Millisecond+readTick+time.Second {
			t.Fatalf("cut after %v, want 300 ms and at most a tick more", took)
		}
	})
	t.Run("woken", func(t *testing.T) {
		t.Parallel()
		c, client := watched(t)
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		go func() { time.Sleep(100 * time.Millisecond); _ = c.SetReadDeadline(aLongTimeAgo) }()
		begin := time.Now()
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v; want the deadline", err)
		}
		if took := time.Since(begin); took > readTick {
			t.Fatalf("woken after %v, want at once", took)
		}
		_ = c.SetReadDeadline(time.Time{})
		_, _ = client.Write([]byte("next"))
		if n, err := c.Read(make([]byte, 10)); err != nil || n != 4 {
			t.Fatalf("after the wake-up: %d, %v", n, err)
		}
	})
	for _, next := range []time.Duration{0, 10 * time.Second} {
		t.Run(fmt.Sprintf("passed while idle, then %v", next), func(t *testing.T) {
			t.Parallel()
			c, client := watched(t)
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			time.Sleep(50*time.Millisecond + 2*readTick)
			c.rmu.Lock()
			cut := c.rcut
			c.rmu.Unlock()
			if !cut {
				t.Fatal("the watch did not cut the deadline that passed")
			}
			var later time.Time
			if next > 0 {
				later = time.Now().Add(next)
			}
			_ = c.SetReadDeadline(later)
			go func() { time.Sleep(100 * time.Millisecond); _, _ = client.Write([]byte("late")) }()
			if n, err := c.Read(make([]byte, 10)); err != nil || n != 4 {
				t.Fatalf("%d, %v; want the 4 bytes sent", n, err)
			}
		})
	}
	t.Run("watch stops with the listener", func(t *testing.T) {
		ln, err := Listen("127.0.0.1:0", Config{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		w := ln.(*limitListener).watch
		_ = ln.Close()
		select {
		case <-w.stop:
		case <-time.After(time.Second):
			t.Fatal("the watch runs on after its listener closed")
		}
	})
}
