package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy between a test's client and a real server, which the test can cut
// (connections reset, new ones closed at once: a server that is down) or black-hole (nothing
// goes through and nothing is closed: a host that stopped answering), and restore.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state proxyState
	conns map[net.Conn]struct{}
	held  chan struct{} // closed when the black hole ends
}

type proxyState int

const (
	proxyOpen proxyState = iota
	proxyCut
	proxyBlackHole
)

// NewProxy listens on a free loopback port and forwards every connection to target
// (host:port) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, held: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.accept()
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Restore()
		p.closeAll()
		<-done
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut resets every connection and closes new ones as soon as they are made.
func (p *Proxy) Cut() {
	p.set(proxyCut)
	p.closeAll()
}

// BlackHole stops forwarding: connections stay open, new ones are accepted, and whatever is
// sent is neither delivered nor answered.
func (p *Proxy) BlackHole() { p.set(proxyBlackHole) }

// Restore forwards again. Connections black-holed meanwhile are closed (what was swallowed
// cannot be delivered in order); new ones go through.
func (p *Proxy) Restore() {
	p.mu.Lock()
	was := p.state
	p.state = proxyOpen
	if was == proxyBlackHole {
		close(p.held)
		p.held = make(chan struct{})
	}
	p.mu.Unlock()
	if was == proxyBlackHole {
		p.closeAll()
	}
}

func (p *Proxy) set(s proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == proxyBlackHole && s != proxyBlackHole {
		close(p.held)
		p.held = make(chan struct{})
	}
	p.state = s
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as from a server that went away
		}
		_ = c.Close()
		delete(p.conns, c)
	}
}

// track registers c, or reports false when the proxy is cut.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == proxyCut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(client) {
			_ = client.Close()
			continue
		}
		go p.serve(client)
	}
}

// serve forwards one connection, dialling the target only when not black-holed.
func (p *Proxy) serve(client net.Conn) {
	p.mu.Lock()
	state, held := p.state, p.held
	p.mu.Unlock()
	if state == proxyBlackHole {
		<-held // swallow it until the black hole ends; Restore then closes it
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(server) {
		_ = server.Close()
		_ = client.Close()
		return
	}
	go p.pipe(server, client)
	p.pipe(client, server)
}

// pipe copies from src to dst; in a black hole, what is read is dropped.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			state := p.state
			p.mu.Unlock()
			if state == proxyOpen {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = src.Close()
			}
			_ = dst.Close()
			return
		}
	}
}
