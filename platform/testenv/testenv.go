// Package testenv tells tests where the real servers of this machine are.
//
// Each server's address comes from an environment variable (TEST_POSTGRES_URL,
// TEST_REDIS_URL, TEST_NATS_URL). Unset, the test is skipped with a line that names the
// variable, so a fresh machine runs everything else. With TEST_REQUIRE_SERVERS=1 (set by
// .ci/run) an unset variable is a failure instead, so CI never passes by skipping.
package testenv

import (
	"os"
	"testing"
)

// Variables naming the servers tests may use.
const (
	Postgres = "TEST_POSTGRES_URL" // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	Redis    = "TEST_REDIS_URL"    // redis://127.0.0.1:6379/0
	NATS     = "TEST_NATS_URL"     // nats://127.0.0.1:4222
	Require  = "TEST_REQUIRE_SERVERS"
)

// URL returns the value of the variable name, or skips the test (fails it when
// TEST_REQUIRE_SERVERS=1) when it is unset.
func URL(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is not set and %s=1: this suite must run against a real server", name, Require)
	}
	t.Skipf("SKIP: %s not set; set it to run this suite against a real server", name)
	return ""
}

// Unreachable reports a server that is configured but cannot be reached: always a failure,
// since the variable says the server should be there.
func Unreachable(t testing.TB, name string, err error) {
	t.Helper()
	t.Fatalf("%s is set but the server is not reachable: %v", name, err)
}

// Required reports whether TEST_REQUIRE_SERVERS=1.
func Required() bool { return os.Getenv(Require) == "1" }
