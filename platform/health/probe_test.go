package health_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/health"
)

func TestCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/readyz":
			http.Error(w, `{"database":"connection refused"}`, http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	_, port, _ := strings.Cut(u.Host, ":")
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	tests := []struct {
		name     string
		args     []string
		httpAddr string // "" leaves HTTP_ADDR unset: the default address applies
		want     int
		stderr   string // substring of what it says
	}{
		{"200 on the path asked for is healthy", []string{"/healthz"}, u.Host, 0, ""},
		{"an unspecified host means this machine", []string{"/healthz"}, "0.0.0.0:" + port, 0, ""},
		{"an empty host means this machine", []string{"/healthz"}, ":" + port, 0, ""},
		{"HTTP_ADDR unset uses the default address", []string{"/healthz"}, "", 0, ""},
		{"/readyz by default, and 503 is unhealthy with the reason", nil, u.Host, 1, "503 {\"database\":\"connection refused\"}"},
		{"nothing listening is unhealthy", nil, closedAddr, 1, "connection refused"},
		{"a bad HTTP_ADDR is named", nil, "8080", 1, "HTTP_ADDR"},
		{"a stray argument is a usage error", []string{"now"}, u.Host, 2, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			getenv := func(k string) string {
				if k == "HTTP_ADDR" {
					return tt.httpAddr
				}
				return ""
			}
			got := health.Command(tt.args, getenv, ":"+port, &stderr)
			if got != tt.want || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", got, stderr.String(), tt.want, tt.stderr)
			}
		})
	}
}
