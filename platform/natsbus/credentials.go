package natsbus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Credentials are how the services prove who they are to an external NATS server, and how
// they check the server's certificate. Every field is optional; a user and password can
// also be given in NATS_URL (nats://user:password@host:4222), and are never logged.
type Credentials struct {
	// CredsFile is a NATS credentials file (a user JWT and its NKey seed, as made by nsc),
	// read again at each connection so it can be rotated.
	CredsFile string `env:"NATS_CREDS"`
	// NKeySeed is a user NKey seed: the seed itself ("SU…") or the path of a file holding it.
	NKeySeed string `env:"NATS_NKEY_SEED"`
	// CAFile is a PEM file of the certificate authorities that sign the server's certificate;
	// setting it makes TLS required.
	CAFile string `env:"NATS_CA_FILE"`
	// CertFile and KeyFile are the client certificate and its key (PEM), for servers that
	// verify clients; read again at each connection so they can be rotated.
	CertFile string `env:"NATS_CERT_FILE"`
	KeyFile  string `env:"NATS_KEY_FILE"`
}

// Options checks every file and seed now, so a bad one stops the start with one line that
// names its variable, and returns the connection options that use them.
func (c Credentials) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if c.CredsFile != "" && c.NKeySeed != "" {
		return nil, errors.New("NATS_CREDS and NATS_NKEY_SEED are both set: set one of them")
	}
	if c.CredsFile != "" {
		if err := checkCreds(c.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeySeed != "" {
		opt, err := nkeyOption(c.NKeySeed)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	}
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		opts = append(opts, nats.Secure(tlsConfig))
	}
	return opts, nil
}

func checkCreds(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("NATS_CREDS: %w", err)
	}
	if _, err := nkeys.ParseDecoratedJWT(data); err != nil {
		return fmt.Errorf("NATS_CREDS %s: no user JWT in it: %w", path, err)
	}
	if _, err := nkeys.ParseDecoratedUserNKey(data); err != nil {
		return fmt.Errorf("NATS_CREDS %s: no user NKey seed in it: %w", path, err)
	}
	return nil
}

// nkeyOption reads the seed (given inline when it starts with "SU", else a file path) and
// signs the server's challenge with it.
func nkeyOption(value string) (nats.Option, error) {
	value = strings.TrimSpace(value)
	seed, where := []byte(value), "NATS_NKEY_SEED (the seed itself)"
	if !strings.HasPrefix(value, "SU") {
		data, err := os.ReadFile(value)
		if err != nil {
			// Not the path: a mistyped seed is a secret all the same.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("NATS_NKEY_SEED is neither a user seed (SU…) nor a readable file: %w", err)
		}
		seed, where = data, "NATS_NKEY_SEED "+value
	}
	kp, err := nkeys.ParseDecoratedUserNKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%s: not a user NKey seed (SU…): %w", where, err)
	}
	public, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return nats.Nkey(public, kp.Sign), nil
}

func (c Credentials) tlsConfig() (*tls.Config, error) {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("NATS_CERT_FILE and NATS_KEY_FILE: set both (a client certificate and its key) or neither")
	}
	if c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("NATS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("NATS_CA_FILE %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return nil, fmt.Errorf("NATS_CERT_FILE %s and NATS_KEY_FILE %s: %w", c.CertFile, c.KeyFile, err)
		}
		certFile, keyFile := c.CertFile, c.KeyFile
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("NATS_CERT_FILE/NATS_KEY_FILE: %w", err)
			}
			return &cert, nil
		}
	}
	return cfg, nil
}

// Redact returns NATS_URL (one URL or a comma-separated list) with every password or token
// replaced, fit for logs and errors.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		parts[i] = redactOne(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactOne(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return "(a URL that does not parse, not shown)"
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx") // a token
	}
	return u.String()
}
