package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is a nats-server with JetStream running inside this process.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a JetStream server storing its data under storeDir. addr is where it
// also listens for outside clients ("host:port"), or "off" for in-process connections only.
// An address already in use is an error, not a silent fallback.
func StartEmbedded(storeDir, addr string, log *slog.Logger) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "factorial-embedded",
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if addr == "off" {
		opts.DontListen = true
	} else {
		host, port, err := splitAddr(addr)
		if err != nil {
			return nil, err
		}
		// nats-server only logs a failed bind; check it ourselves to fail with a clear line.
		if port != server.RANDOM_PORT {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("EMBEDDED_NATS_ADDR %s: %w (set EMBEDDED_NATS_ADDR to a free address, or off)", addr, err)
			}
			_ = l.Close()
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	// nats-server reports a JetStream that cannot start (an unusable storeDir) or a failed
	// bind only through its logger, and keeps running without them; slog keeps that reason.
	sl := &serverLog{log: log.With("component", "nats-server")}
	srv.SetLogger(sl, false, false)
	srv.Start()
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: JetStream did not start with store %s: %s", storeDir, sl.fatalOr("no reason given"))
	}
	for deadline := time.Now().Add(15 * time.Second); !srv.ReadyForConnections(100 * time.Millisecond); {
		if reason := sl.fatalOr(""); reason != "" || time.Now().After(deadline) {
			srv.Shutdown()
			if reason == "" {
				return nil, errors.New("embedded nats: not ready after 15s")
			}
			return nil, fmt.Errorf("embedded nats: %s (EMBEDDED_NATS_ADDR %s)", reason, addr)
		}
	}
	if !opts.DontListen {
		log.Info("embedded NATS listening", "url", srv.ClientURL())
	}
	return &Embedded{srv: srv}, nil
}

func splitAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("EMBEDDED_NATS_ADDR %q is not host:port or off: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("EMBEDDED_NATS_ADDR %q: port must be 0 to 65535", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// ClientURL is the URL outside clients connect to ("" when listening is off).
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Dialer returns a Dialer whose connections go in-process, never through the network.
func (e *Embedded) Dialer(log *slog.Logger) Dialer {
	return func(name string) (*nats.Conn, error) {
		return nats.Connect("", append(connOptions(name, log), nats.InProcessServer(e.srv))...)
	}
}

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// serverLog passes nats-server's warnings and errors to slog, and keeps the first fatal one:
// nats-server calls Fatalf and carries on without the part that failed (its own logger would
// exit the process instead).
type serverLog struct {
	log   *slog.Logger
	mu    sync.Mutex
	fatal string
}

func (l *serverLog) fatalOr(none string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == "" {
		return none
	}
	return l.fatal
}

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.fatal == "" {
		l.fatal = msg
	}
	l.mu.Unlock()
	l.log.Error(msg)
}

func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(string, ...any)           {}
