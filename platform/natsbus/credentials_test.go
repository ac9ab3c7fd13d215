package natsbus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// startAuthServer starts a nats-server (no JetStream) with opts on a random loopback port.
func startAuthServer(t *testing.T, opts *server.Options, setup ...func(*server.Server)) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(ns)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// dialWith connects to url with c's options, as the services do.
func dialWith(t *testing.T, url string, c Credentials) (*nats.Conn, error) {
	t.Helper()
	opts, err := c.Options()
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	return NewDialer(url, testLogger(t), append(opts, nats.MaxReconnects(0))...)("credentials-test")
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustSeed(t *testing.T, kp nkeys.KeyPair) (seed []byte, public string) {
	t.Helper()
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	public, err = kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return seed, public
}

func TestCredentialsNKeySeed(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, public := mustSeed(t, user)
	ns := startAuthServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: public}}})

	for name, value := range map[string]string{
		"the seed itself":     string(seed),
		"a file of the seed":  writeFile(t, "user.nk", append(seed, '\n')),
		"the seed, spaced":    " " + string(seed) + "\n",
		"an nsc-style nkfile": writeFile(t, "user.creds.nk", append([]byte("-----BEGIN USER NKEY SEED-----\n"), append(seed, []byte("\n------END USER NKEY SEED------\n")...)...)),
	} {
		nc, err := dialWith(t, ns.ClientURL(), Credentials{NKeySeed: value})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		nc.Close()
	}

	other, _ := nkeys.CreateUser()
	otherSeed, _ := mustSeed(t, other)
	if nc, err := dialWith(t, ns.ClientURL(), Credentials{NKeySeed: string(otherSeed)}); err == nil {
		nc.Close()
		t.Error("a seed the server does not know connected")
	}
	if nc, err := dialWith(t, ns.ClientURL(), Credentials{}); err == nil {
		nc.Close()
		t.Error("connected without a seed")
	}
}

// A full operator set-up: operator → account → user, the server trusting the operator and
// resolving the account from memory, the service holding a creds file made as nsc makes it.
func TestCredentialsCredsFile(t *testing.T) {
	t.Parallel()
	operator, _ := nkeys.CreateOperator()
	_, operatorPub := mustSeed(t, operator)
	operatorJWT, err := jwt.NewOperatorClaims(operatorPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	operatorClaims, err := jwt.DecodeOperatorClaims(operatorJWT)
	if err != nil {
		t.Fatal(err)
	}
	account, _ := nkeys.CreateAccount()
	_, accountPub := mustSeed(t, account)
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := nkeys.CreateUser()
	userSeed, userPub := mustSeed(t, user)
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(userJWT, userSeed)
	if err != nil {
		t.Fatal(err)
	}

	resolver := &server.MemAccResolver{}
	ns := startAuthServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{operatorClaims}, AccountResolver: resolver},
		func(*server.Server) {
			if err := resolver.Store(accountPub, accountJWT); err != nil {
				t.Fatal(err)
			}
		})

	nc, err := dialWith(t, ns.ClientURL(), Credentials{CredsFile: writeFile(t, "user.creds", creds)})
	if err != nil {
		t.Fatalf("with the creds file: %v", err)
	}
	nc.Close()
	if nc, err := dialWith(t, ns.ClientURL(), Credentials{}); err == nil {
		nc.Close()
		t.Error("connected to an operator-mode server without credentials")
	}
}

// tlsFiles are a CA, a server certificate for 127.0.0.1 and a client certificate, all made
// for the test.
type tlsFiles struct {
	caPool             *x509.CertPool
	server             tls.Certificate
	caFile             string
	certFile, keyFile  string
	otherCAFile        string
	otherCert, otherKy string // a client certificate from another CA
}

func makeTLS(t *testing.T) tlsFiles {
	t.Helper()
	ca, caKey, caPEM := newCA(t, "test CA")
	other, otherKey, otherPEM := newCA(t, "another CA")
	f := tlsFiles{caPool: x509.NewCertPool()}
	f.caPool.AddCert(ca)
	serverPEM, serverKeyPEM := newLeaf(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	var err error
	if f.server, err = tls.X509KeyPair(serverPEM, serverKeyPEM); err != nil {
		t.Fatal(err)
	}
	clientPEM, clientKeyPEM := newLeaf(t, ca, caKey, "", x509.ExtKeyUsageClientAuth)
	otherClientPEM, otherClientKeyPEM := newLeaf(t, other, otherKey, "", x509.ExtKeyUsageClientAuth)
	f.caFile = writeFile(t, "ca.pem", caPEM)
	f.otherCAFile = writeFile(t, "other-ca.pem", otherPEM)
	f.certFile, f.keyFile = writeFile(t, "client.pem", clientPEM), writeFile(t, "client-key.pem", clientKeyPEM)
	f.otherCert, f.otherKy = writeFile(t, "other.pem", otherClientPEM), writeFile(t, "other-key.pem", otherClientKeyPEM)
	return f
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ip string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestCredentialsTLSWithAClientCertificate(t *testing.T) {
	t.Parallel()
	f := makeTLS(t)
	ns := startAuthServer(t, &server.Options{
		TLS: true, TLSVerify: true, TLSTimeout: 5,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{f.server}, ClientCAs: f.caPool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
		},
	})
	url := ns.ClientURL()

	nc, err := dialWith(t, url, Credentials{CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile})
	if err != nil {
		t.Fatalf("CA and client certificate: %v", err)
	}
	if state, err := nc.TLSConnectionState(); err != nil || !state.HandshakeComplete {
		t.Errorf("connection not over TLS: %v", err)
	}
	nc.Close()

	for name, c := range map[string]Credentials{
		"without a client certificate":            {CAFile: f.caFile},
		"with a client certificate of another CA": {CAFile: f.caFile, CertFile: f.otherCert, KeyFile: f.otherKy},
		"trusting another CA":                     {CAFile: f.otherCAFile, CertFile: f.certFile, KeyFile: f.keyFile},
		"without TLS settings":                    {},
	} {
		if nc, err := dialWith(t, url, c); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
}

// Every bad setting stops the start with one line naming its variable, and never shows a
// seed.
func TestCredentialsRefuseBadSettings(t *testing.T) {
	t.Parallel()
	account, _ := nkeys.CreateAccount()
	accountSeed, _ := mustSeed(t, account)
	garbage := writeFile(t, "garbage", []byte("not a key\n"))
	missing := filepath.Join(t.TempDir(), "missing")
	f := makeTLS(t)
	tests := []struct {
		name  string
		c     Credentials
		names []string
	}{
		{"a missing creds file", Credentials{CredsFile: missing}, []string{"NATS_CREDS"}},
		{"a creds file without a JWT", Credentials{CredsFile: garbage}, []string{"NATS_CREDS"}},
		{"creds and a seed at once", Credentials{CredsFile: garbage, NKeySeed: garbage}, []string{"NATS_CREDS", "NATS_NKEY_SEED"}},
		{"a broken seed", Credentials{NKeySeed: "SUAMISTYPED"}, []string{"NATS_NKEY_SEED"}},
		{"an account seed, not a user's", Credentials{NKeySeed: string(accountSeed)}, []string{"NATS_NKEY_SEED"}},
		{"a missing seed file", Credentials{NKeySeed: missing}, []string{"NATS_NKEY_SEED"}},
		{"a seed file without a seed", Credentials{NKeySeed: garbage}, []string{"NATS_NKEY_SEED"}},
		{"a missing CA file", Credentials{CAFile: missing}, []string{"NATS_CA_FILE"}},
		{"a CA file without a certificate", Credentials{CAFile: garbage}, []string{"NATS_CA_FILE"}},
		{"a certificate without its key", Credentials{CertFile: f.certFile}, []string{"NATS_CERT_FILE", "NATS_KEY_FILE"}},
		{"a key that is not the certificate's", Credentials{CertFile: f.certFile, KeyFile: f.otherKy}, []string{"NATS_CERT_FILE", "NATS_KEY_FILE"}},
	}
	for _, tt := range tests {
		_, err := tt.c.Options()
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		msg := err.Error()
		for _, name := range tt.names {
			if !strings.Contains(msg, name) {
				t.Errorf("%s: %q does not name %s", tt.name, msg, name)
			}
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, string(accountSeed)) || strings.Contains(msg, "SUAMISTYPED") {
			t.Errorf("%s: %q is not one line or shows the seed", tt.name, msg)
		}
	}
	// A mistyped seed taken for a path is not shown either.
	if _, err := (Credentials{NKeySeed: "sUAB-mistyped-secret"}).Options(); err == nil || strings.Contains(err.Error(), "mistyped-secret") {
		t.Errorf("mistyped seed: %v", err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                    "nats://127.0.0.1:4222",
		"nats://bob:s3cret@n1:4222,nats://n2:4222": "nats://bob:xxxxx@n1:4222,nats://n2:4222",
		"tls://bob:s3cret@n1:4222, tls://t0ken@n2": "tls://bob:xxxxx@n1:4222,tls://xxxxx@n2",
		"nats://bob:p%40ss@n1":                     "nats://bob:xxxxx@n1",
		"nats://bob:s3cret@[::1:4222":              "(a URL that does not parse, not shown)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A user and password in NATS_URL log in to a server that requires them; a wrong password
// is refused, and its error does not show it.
func TestCredentialsUserPasswordInTheURL(t *testing.T) {
	t.Parallel()
	ns := startAuthServer(t, &server.Options{Username: "bob", Password: "s3cret"})
	addr := strings.TrimPrefix(ns.ClientURL(), "nats://")
	nc, err := dialWith(t, "nats://bob:s3cret@"+addr, Credentials{})
	if err != nil {
		t.Fatalf("user and password in the URL: %v", err)
	}
	nc.Close()
	for _, url := range []string{"nats://bob:wrong@" + addr, "nats://" + addr} {
		nc, err := dialWith(t, url, Credentials{})
		if err == nil {
			nc.Close()
			t.Fatalf("%s: connected", Redact(url))
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
