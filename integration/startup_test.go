package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/migrations/dbtest"
)

// unreachableNATS is an address where no NATS server listens: programs that must stop
// before they dial NATS get it, so the suite never touches the shared server by accident.
const unreachableNATS = "nats://127.0.0.1:1"

// checkOneLine checks that a program that was to refuse to start exited 1 with a single line
// on stderr, prefixed with its name and containing every string in want.
func checkOneLine(t *testing.T, prog string, code int, stdout, stderr string, want ...string) {
	t.Helper()
	line := strings.TrimSuffix(stderr, "\n")
	switch {
	case code != 1:
		t.Errorf("exit status %d, want 1; stderr:\n%s", code, stderr)
	case line == "" || strings.Contains(line, "\n"):
		t.Errorf("stderr is not one line:\n%s", stderr)
	case !strings.HasPrefix(line, prog+": "):
		t.Errorf("stderr %q does not start with %q", line, prog+": ")
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("stderr %q does not mention %s", line, w)
		}
	}
	if stdout != "" {
		t.Errorf("stdout not empty:\n%s", stdout)
	}
}

func testSettingErrors(t *testing.T, bins binaries) {
	fakeDB := "postgres://postgres@127.0.0.1:1/none?sslmode=disable" // never reached
	for _, tc := range []struct {
		name string
		prog string
		path string
		env  []string
		args []string
		want string
	}{
		{"api with no settings names NATS_URL", "api", bins.api, nil, nil, "NATS_URL"},
		{"api without DATABASE_URL names it", "api", bins.api, []string{"NATS_URL=" + unreachableNATS}, nil, "DATABASE_URL"},
		{"api with a bad MAX_NUMBER names it", "api", bins.api,
			[]string{"NATS_URL=" + unreachableNATS, "DATABASE_URL=" + fakeDB, "MAX_NUMBER=lots"}, nil, "MAX_NUMBER"},
		{"calculator with no settings names NATS_URL", "calculator", bins.calculator, nil, nil, "NATS_URL"},
		{"calculator without DATABASE_URL names it", "calculator", bins.calculator, []string{"NATS_URL=" + unreachableNATS}, nil, "DATABASE_URL"},
		{"calculator with CALCULATOR_CONCURRENCY=0 names it", "calculator", bins.calculator,
			[]string{"NATS_URL=" + unreachableNATS, "DATABASE_URL=" + fakeDB, "CALCULATOR_CONCURRENCY=0"}, nil, "CALCULATOR_CONCURRENCY"},
		{"migrate without DATABASE_URL names it", "migrate", bins.migrate, nil, []string{"status"}, "DATABASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runToExit(t, tc.prog, tc.path, tc.env, tc.args...)
			checkOneLine(t, tc.prog, code, stdout, stderr, tc.want)
		})
	}
}

// testMigrate runs bin/migrate status, up, status and up again on a new, empty database.
func testMigrate(t *testing.T, bins binaries) {
	env := []string{"DATABASE_URL=" + dbtest.EmptyPostgresURL(t)}
	migrate := func(cmd string) string {
		t.Helper()
		code, stdout, stderr := runToExit(t, "migrate "+cmd, bins.migrate, env, cmd)
		if code != 0 {
			t.Fatalf("migrate %s: exit status %d\nstdout:\n%s\nstderr:\n%s", cmd, code, stdout, stderr)
		}
		return stdout
	}
	// statusLines returns the migration names of `migrate status`, all of which must be in state.
	statusLines := func(out, state string) []string {
		t.Helper()
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) != 2 || fields[0] != state {
				t.Fatalf("migrate status line %q, want %q and a name", line, state)
			}
			names = append(names, fields[1])
		}
		return names
	}

	pending := statusLines(migrate("status"), "pending")
	if len(pending) == 0 {
		t.Fatal("migrate status lists no migration on a new database")
	}
	if out := migrate("up"); !strings.Contains(out, "migrations applied") || !strings.Contains(out, pending[0]) {
		t.Errorf("migrate up said:\n%s\nwant \"migrations applied\" naming %s", out, pending[0])
	}
	applied := statusLines(migrate("status"), "applied")
	if strings.Join(applied, " ") != strings.Join(pending, " ") {
		t.Errorf("applied %v, want the pending list %v", applied, pending)
	}
	if out := migrate("up"); !strings.Contains(out, "up to date") {
		t.Errorf("second migrate up said:\n%s\nwant \"up to date\"", out)
	}
}

// testUnmigrated starts the api and a calculator on a database with no tables: each must
// stop at once with one line that says to run the migrations.
func testUnmigrated(t *testing.T, bins binaries) {
	url := dbtest.EmptyPostgresURL(t)
	for _, prog := range []string{"api", "calculator"} {
		t.Run(prog, func(t *testing.T) {
			env := []string{
				"NATS_URL=" + unreachableNATS, "DATABASE_URL=" + url, "HTTP_ADDR=" + freeAddr(t),
				"STORAGE=local", "LOCAL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "objects"),
			}
			path := map[string]string{"api": bins.api, "calculator": bins.calculator}[prog]
			code, stdout, stderr := runToExit(t, prog, path, env)
			checkOneLine(t, prog, code, stdout, stderr, "not applied", "migrate up")
		})
	}
}

// testAPIBeforeStream starts the API alone on a NATS server without the FACTORIAL stream, as
// when it wins the race against the calculators at the start of a stack. It creates the
// stream, accepts requests at once (the record is the promise), and reports on /readyz,
// naming it, the lane consumer that only a calculator creates; once a calculator has
// started, it is ready and the request it accepted earlier is computed.
func testAPIBeforeStream(t *testing.T, bins binaries) {
	natsURL, _ := ownNATS(t) // deletes the stream
	pgURL := dbtest.PostgresURL(t)
	storage := []string{"STORAGE=local", "LOCAL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "objects")}
	addr := freeAddr(t)
	api := start(t, "api", bins.api, append([]string{
		"NATS_URL=" + natsURL, "DATABASE_URL=" + pgURL, "HTTP_ADDR=" + addr,
	}, storage...))
	c := newClient("http://" + addr)
	eventually(t, readyTimeout, "the api reports the missing lane consumer", func() error {
		r, err := c.get("/readyz", "")
		if err != nil {
			return err
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"jetstream":"consumer calculator-small: missing"`) {
			return fmt.Errorf("/readyz: %d %s", r.status, r.body)
		}
		return nil
	})
	r, err := c.post(10)
	if err != nil || r.status != http.StatusAccepted {
		t.Fatalf("POST while no calculator has started: %v %d %s", err, r.status, r.body)
	}

	calcAddr := freeAddr(t)
	calc := start(t, "calculator", bins.calculator, append([]string{
		"NATS_URL=" + natsURL, "DATABASE_URL=" + pgURL, "HTTP_ADDR=" + calcAddr,
	}, storage...))
	waitReady(t, calc, "http://"+calcAddr)
	waitReady(t, api, "http://"+addr)
	eventually(t, computeTimeout, "10! accepted before the calculator started is computed", func() error {
		r, err := c.get("/api/v1/factorial/10", "")
		if err != nil {
			return err
		}
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"factorial_result":"3628800"`) {
			return fmt.Errorf("%d %s", r.status, r.body)
		}
		return nil
	})
	c.http.CloseIdleConnections()
	api.stop(t)
	calc.stop(t)
}
