package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/labstack/echo/v4"
)

// Auth turns API keys on; its fields are environment variables.
//
// API_KEYS_FILE holds one key per line as "id:sha256" (the hex SHA-256 of the key, never the
// key itself) or "id:sha256:read" for a key that may only read; blank lines and lines
// starting with # are ignored. With keys on, POST needs "Authorization: Bearer <key>", and
// with API_AUTH_READS=true the API's reads too (the page, the document, Swagger UI and the
// probes stay open). Keys are long random strings (32 random bytes, say), so one SHA-256 is
// as good as a slow hash for them.
type Auth struct {
	KeysFile  string `env:"API_KEYS_FILE"`
	AuthReads bool   `env:"API_AUTH_READS"`
}

// apiKey is one key of the file: its id (who it is, for logs and limits) and what it may do.
type apiKey struct {
	id       string
	readOnly bool
}

// keyring is the keys of API_KEYS_FILE by the SHA-256 of the key; nil when keys are off.
type keyring map[[sha256.Size]byte]apiKey

// loadKeys reads API_KEYS_FILE. Its errors name the variable and the line, never what the
// line holds (it might be a key pasted by mistake).
func loadKeys(path string) (keyring, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
	}
	defer f.Close()
	keys := keyring{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Split(text, ":")
		var sum [sha256.Size]byte
		ok := (len(parts) == 2 || len(parts) == 3 && parts[2] == "read") && parts[0] != "" &&
			len(parts[1]) == 2*sha256.Size && hexInto(sum[:], parts[1])
		if !ok {
			return nil, fmt.Errorf("API_KEYS_FILE line %d is not id:sha256 or id:sha256:read, with the hex SHA-256 of the key (the key itself must not be in the file)", line)
		}
		if _, dup := keys[sum]; dup {
			return nil, fmt.Errorf("API_KEYS_FILE line %d repeats a key", line)
		}
		keys[sum] = apiKey{id: parts[0], readOnly: len(parts) == 3}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("API_KEYS_FILE has no key: add lines id:sha256, or unset it to turn keys off")
	}
	return keys, nil
}

func hexInto(dst []byte, s string) bool {
	n, err := hex.Decode(dst, []byte(strings.ToLower(s)))
	return err == nil && n == len(dst)
}

// authenticate checks the API key of a request to the API when keys are on: POST always,
// reads when reads need a key. Whoever the request comes from (the key's id, or else the
// client's address) goes into its context for the limits (clientID).
func authenticate(c echo.Context, keys keyring, reads bool) error {
	req := c.Request()
	if keys == nil || !strings.HasPrefix(req.URL.Path, "/api/") {
		return nil
	}
	write := req.Method != http.MethodGet && req.Method != http.MethodHead
	token, given := bearer(req.Header.Get(echo.HeaderAuthorization))
	if !given && !write && !reads {
		return nil
	}
	if !given {
		return authProblem(http.StatusUnauthorized, "this request needs an API key: send Authorization: Bearer <key>", "")
	}
	key, ok := keys[sha256.Sum256([]byte(token))]
	switch {
	case !ok:
		return authProblem(http.StatusUnauthorized, "the API key is not known here; send a valid one as Authorization: Bearer <key>", "invalid_token")
	case write && key.readOnly:
		return authProblem(http.StatusForbidden, "the API key "+key.id+" may only read; ask with a key that may write", "insufficient_scope")
	}
	c.SetRequest(req.WithContext(withClient(req.Context(), "key:"+key.id)))
	return nil
}

// bearer reads the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func authProblem(status int, detail, code string) *Problem {
	challenge := `Bearer realm="factorial"`
	if code != "" {
		challenge += `, error="` + code + `"`
	}
	return problem(status, "%s", detail).With("WWW-Authenticate", challenge)
}

type clientKey struct{}

// withClient returns ctx carrying who a request comes from ("key:<id>" where keys are on),
// for per-client limits; the authentication middleware sets it.
func withClient(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientKey{}, id)
}

// clientID is who r comes from: what the middleware put in its context (withClient), or else
// its remote address (the host, without the port): an IPv4 address, or an IPv6 address's
// /64. A site or a home is given a /64 at the least, so one address a client would let its
// holder pass the rate limit and the per-client cap with 2^64 addresses.
func clientID(r *http.Request) string {
	if id, ok := r.Context().Value(clientKey{}).(string); ok && id != "" {
		return id
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if addr = addr.Unmap(); addr.Is4() {
		return addr.String()
	}
	prefix, _ := addr.WithZone("").Prefix(64)
	return prefix.String()
}
