package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/events"
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

// testAPIBeforeStream starts the API alone on a NATS server without the FACTORIAL stream,
// as when it wins the race against the calculators (which provision the stream) at the start
// of a stack. It may stop with a line naming the stream, so that its supervisor restarts it,
// or wait for the stream and serve; it must never hang.
func testAPIBeforeStream(t *testing.T, bins binaries) {
	natsURL, _ := ownNATS(t) // deletes the stream
	addr := freeAddr(t)
	p := start(t, "api", bins.api, []string{
		"NATS_URL=" + natsURL, "DATABASE_URL=" + dbtest.PostgresURL(t), "HTTP_ADDR=" + addr, "STORAGE=memory",
	})
	select {
	case <-p.exited:
		lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
		last := lines[len(lines)-1]
		if p.exitCode() != 1 || !strings.HasPrefix(last, "api: ") || !strings.Contains(last, events.Stream) {
			t.Errorf("api exited with status %d and last line %q; want 1 and a line naming stream %s", p.exitCode(), last, events.Stream)
		}
	case <-time.After(5 * time.Second):
		waitReady(t, p, "http://"+addr)
		p.stop(t)
	}
}
