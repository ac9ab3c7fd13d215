package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/migrations/dbtest"
)

const first = "20261124_create_factorials"

func TestRunRejectsBadInput(t *testing.T) {
	sqlite := filepath.Join(t.TempDir(), "f.db")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command is the usage line", nil, map[string]string{"DATABASE_URL": sqlite}, "usage: migrate up|down|status"},
		{"unknown command is the usage line", []string{"sideways"}, map[string]string{"DATABASE_URL": sqlite}, "usage: migrate up|down|status"},
		{"two commands are the usage line", []string{"up", "down"}, map[string]string{"DATABASE_URL": sqlite}, "usage: migrate up|down|status"},
		{"missing DATABASE_URL is named", []string{"up"}, nil, "DATABASE_URL is required"},
		{"bad DATABASE_URL is named", []string{"up"}, map[string]string{"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL has unsupported scheme"},
		{"bad LOG_LEVEL is named", []string{"up"}, map[string]string{"DATABASE_URL": sqlite, "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q, want one line", err)
			}
		})
	}
}

func TestRunHelpPrintsUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "usage: migrate") {
		t.Fatalf("output = %q, want the usage line", out.String())
	}
}

func TestRunUpStatusDown(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "data", "f.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.EmptyPostgresURL(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": b.url(t)}
			names, err := migrations.Names()
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(names, " ")
			for _, step := range []struct {
				name string
				cmd  string
				want string
			}{
				{"status of a new database lists it pending", "status", "pending  " + first},
				{"up applies them", "up", `msg="migrations applied" service=migrate migrations="[` + all + `]"`},
				{"status lists it applied", "status", "applied  " + first},
				{"up again is up to date", "up", `msg="database schema is up to date"`},
				{"down rolls them back", "down", `msg="migrations rolled back" service=migrate migrations="[` + all + `]"`},
				{"down again has nothing to do", "down", `msg="no migrations to roll back"`},
				{"status lists it pending again", "status", "pending  " + first},
				{"unlock is harmless", "unlock", ""},
			} {
				var out bytes.Buffer
				if err := run(t.Context(), []string{step.cmd}, func(k string) string { return env[k] }, &out); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if !strings.Contains(out.String(), step.want) {
					t.Fatalf("%s: output %q lacks %q", step.name, out.String(), step.want)
				}
			}
		})
	}
}
