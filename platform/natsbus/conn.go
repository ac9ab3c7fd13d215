package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
)

// Dialer opens a new named connection. Publishing, fetching work and following events each
// get their own, so a slow follower never holds up a publish on the same socket.
type Dialer func(name string) (*nats.Conn, error)

// NewDialer dials the servers in url (NATS_URL, comma-separated), with extra options such as
// those of Credentials. When no server answers (refused, unreachable, not resolved yet: NATS
// is down or not started), the connection is returned all the same and connects in the
// background, as after a disconnect, so that a service starts while NATS is down and reports
// not ready until it is up. What a server refuses (credentials, TLS) is an error at once.
// Errors show url with its passwords redacted.
func NewDialer(url string, log *slog.Logger, opts ...nats.Option) Dialer {
	return func(name string) (*nats.Conn, error) {
		opts := append(connOptions(name, log), opts...)
		nc, err := nats.Connect(url, opts...)
		if unanswered(err) {
			log.Warn("NATS does not answer: connecting in the background", "conn", name, "url", Redact(url), "err", err)
			nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true),
				nats.ConnectHandler(func(nc *nats.Conn) {
					log.Info("NATS connected", "conn", name, "url", nc.ConnectedUrlRedacted())
				}))...)
		}
		if err != nil {
			return nil, fmt.Errorf("connect to NATS_URL %s: %w", Redact(url), err)
		}
		return nc, nil
	}
}

// unanswered tells the errors of a connect that no server answered: refused (nats.Connect
// reports ErrNoServers), or a dial that failed (unreachable, timed out, a name not resolved
// yet), from those of a server that answered and refused (credentials, TLS).
func unanswered(err error) bool {
	var op *net.OpError
	return errors.Is(err, nats.ErrNoServers) || (errors.As(err, &op) && op.Op == "dial")
}

// connOptions reconnect forever, so a NATS restart never needs a service restart.
func connOptions(name string, log *slog.Logger) []nats.Option {
	log = log.With("conn", name)
	return []nats.Option{
		nats.Name(name),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(16 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS async error", "subject", subject, "err", err)
		}),
	}
}

// Conns dials and keeps the connections of one service, so it can report their health and
// close them together.
type Conns struct {
	dial  Dialer
	conns []*nats.Conn
}

// NewConns returns an empty set that dials with dial.
func NewConns(dial Dialer) *Conns { return &Conns{dial: dial} }

// Dial opens a new named connection and keeps it.
func (c *Conns) Dial(name string) (*nats.Conn, error) {
	nc, err := c.dial(name)
	if err != nil {
		return nil, err
	}
	c.conns = append(c.conns, nc)
	return nc, nil
}

// Ping reports an error naming the first connection that is not connected, for /readyz.
func (c *Conns) Ping(context.Context) error {
	for _, nc := range c.conns {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS connection %s: %s", nc.Opts.Name, nc.Status())
		}
	}
	return nil
}

// Close closes every connection.
func (c *Conns) Close() {
	for _, nc := range c.conns {
		nc.Close()
	}
}
