package natsbus

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultEmbeddedAddr is where the embedded server listens for outside clients when
// EMBEDDED_NATS_ADDR is not set; when it is taken, a free port on the same host is used.
const DefaultEmbeddedAddr = "127.0.0.1:4222"

// Embedded is a nats-server with JetStream running inside this process. It refuses
// anonymous clients: the service connects as an internal user, outside clients as the
// read-only user SubscriberUser (see subscriber.go).
type Embedded struct {
	srv        *server.Server
	subscriber string // the subscriber's password
	generated  bool   // whether that password was generated for this start
	gate       *nats.Conn
}

// EmbeddedOption changes how StartEmbedded starts the server.
type EmbeddedOption func(*embeddedConfig)

type embeddedConfig struct {
	defaultAddr        string
	subscriberPassword string
}

// WithSubscriberPassword sets the password of SubscriberUser (EMBEDDED_NATS_SUBSCRIBER_PASSWORD);
// without it, or with "", one is generated for this start.
func WithSubscriberPassword(password string) EmbeddedOption {
	return func(c *embeddedConfig) { c.subscriberPassword = password }
}

// servicePassword is the internal user's password: generated once per process, never
// printed nor written, and the same across restarts of the embedded server within the
// process, so that the service's connections reconnect.
var servicePassword = sync.OnceValue(rand.Text)

// StartEmbedded starts a JetStream server storing its data under storeDir. addr is where it
// also listens for outside clients ("host:port"), "off" for in-process connections only, or
// "" (EMBEDDED_NATS_ADDR unset) for DefaultEmbeddedAddr, or a free port on its host when
// that is taken. An address given explicitly that is already in use is an error, not a
// silent fallback.
func StartEmbedded(storeDir, addr string, log *slog.Logger, opts ...EmbeddedOption) (*Embedded, error) {
	cfg := embeddedConfig{defaultAddr: DefaultEmbeddedAddr}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Embedded{subscriber: cfg.subscriberPassword}
	if e.subscriber == "" {
		e.subscriber, e.generated = rand.Text(), true
	}
	sopts := &server.Options{
		ServerName: "factorial-embedded",
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if addr == "off" {
		sopts.DontListen = true
	} else {
		host, port, err := listenAddr(addr, cfg.defaultAddr, log)
		if err != nil {
			return nil, err
		}
		sopts.Host, sopts.Port = host, port
	}
	watch := configureUsers(sopts, e.subscriber)
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if err := exportToSubscribers(srv, watch); err != nil {
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
	e.srv = srv
	// With more than one account configured, JetStream is on only where asked: the service's
	// (global) account, whose streams stay where they always were under storeDir.
	if err := srv.GlobalAccount().EnableJetStream(nil, nil); err != nil {
		e.Shutdown()
		return nil, fmt.Errorf("embedded nats: JetStream for the service's account: %w", err)
	}
	if e.gate, err = startConsumerGate(e.Dialer(log), log); err != nil {
		e.Shutdown()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if !sopts.DontListen {
		log.Info("embedded NATS listening", "url", srv.ClientURL())
	}
	return e, nil
}

// listenAddr resolves EMBEDDED_NATS_ADDR (addr) to the host and port nats-server listens on.
func listenAddr(addr, defaultAddr string, log *slog.Logger) (string, int, error) {
	if addr == "" {
		host, port, err := splitAddr(defaultAddr)
		if err != nil {
			return "", 0, err
		}
		if err := checkFree(defaultAddr); err != nil {
			if !errors.Is(err, syscall.EADDRINUSE) {
				return "", 0, fmt.Errorf("EMBEDDED_NATS_ADDR is unset and the default %s is unusable: %w (set EMBEDDED_NATS_ADDR to a free address, or off)", defaultAddr, err)
			}
			log.Info("embedded NATS: the default address is taken, listening on a free port instead (set EMBEDDED_NATS_ADDR to choose)", "taken", defaultAddr)
			port = server.RANDOM_PORT
		}
		return host, port, nil
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return "", 0, err
	}
	// nats-server only logs a failed bind; check it ourselves to fail with a clear line.
	if port != server.RANDOM_PORT {
		if err := checkFree(addr); err != nil {
			return "", 0, fmt.Errorf("EMBEDDED_NATS_ADDR %s: %w (set EMBEDDED_NATS_ADDR to a free address, or off, or leave it unset for a free port)", addr, err)
		}
	}
	return host, port, nil
}

func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
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

// ClientURL is the URL outside clients connect to ("" when listening is off). It carries no
// credentials.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// SubscriberPassword is the password of SubscriberUser: EMBEDDED_NATS_SUBSCRIBER_PASSWORD, or
// the one generated for this start.
func (e *Embedded) SubscriberPassword() string { return e.subscriber }

// WatchCommand is a NATS CLI command line that watches the events from outside, with the
// subscriber's credentials, for the start-up log; "" when listening is off. A generated
// password is shown (that is the only place it appears); one set through
// EMBEDDED_NATS_SUBSCRIBER_PASSWORD is not.
func (e *Embedded) WatchCommand() string {
	u := e.ClientURL()
	if u == "" {
		return ""
	}
	password := `"$EMBEDDED_NATS_SUBSCRIBER_PASSWORD"`
	if e.generated {
		password = e.subscriber
	}
	return fmt.Sprintf("nats sub 'factorial.>' --server %s --user %s --password %s", u, SubscriberUser, password)
}

// Dialer returns a Dialer whose connections go in-process, never through the network, as
// the internal user.
func (e *Embedded) Dialer(log *slog.Logger) Dialer {
	return func(name string) (*nats.Conn, error) {
		return nats.Connect("", append(connOptions(name, log),
			nats.InProcessServer(e.srv), nats.UserInfo(serviceUser, servicePassword()))...)
	}
}

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	if e.gate != nil {
		e.gate.Close()
	}
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

// Errorf logs at WARN what a client caused (nats-server prefixes those lines with the
// client's "cid:"): a wrong password or a refused subject is the client's error, not the
// service's, and anyone who reaches the port could fill the log with ERROR lines.
func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, " - cid:") {
		l.log.Warn(msg)
		return
	}
	l.log.Error(msg)
}

// Warnf drops nats-server's advice to hash passwords: the two passwords live only in this
// process's memory, which holds them in clear anyway to connect with them.
func (l *serverLog) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Plaintext passwords detected") {
		return
	}
	l.log.Warn(msg)
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(string, ...any)           {}
