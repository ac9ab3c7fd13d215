package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ProbeTimeout bounds one `healthcheck` run: /readyz itself gives its checks 3 s.
const ProbeTimeout = 5 * time.Second

// Command is the `healthcheck` subcommand of the service binaries, for container health
// checks in images that have no shell and no curl: `["CMD", "/app", "healthcheck"]`. It asks
// the service running beside it (on HTTP_ADDR, else defaultAddr) for /readyz, or for the path
// given as the one argument (`healthcheck /healthz`), and returns the exit status a health
// check expects: 0 when the answer is 200, else 1 with one line on stderr saying why (2 for
// bad arguments).
func Command(args []string, getenv func(string) string, defaultAddr string, stderr io.Writer) int {
	path := "/readyz"
	switch {
	case len(args) == 1 && strings.HasPrefix(args[0], "/"):
		path = args[0]
	case len(args) != 0:
		fmt.Fprintln(stderr, "usage: healthcheck [/readyz|/healthz] (asks the service on HTTP_ADDR; exit 0 when it answers 200)")
		return 2
	}
	addr := getenv("HTTP_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	if err := Probe(ctx, addr, path); err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	return 0
}

// Probe asks the service listening on addr (a listen address such as ":8080"; an empty or
// unspecified host means this machine) for path, and fails unless it answers 200.
func Probe(ctx context.Context, addr, path string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q is not host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the service is beside us.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
