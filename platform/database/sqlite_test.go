package database

import (
	"strings"
	"testing"
)

func TestSQLiteDSN(t *testing.T) {
	for _, tc := range []struct {
		name, raw        string
		wantDSNPrefix    string
		wantPath         string
		wantErrSubstring string
	}{
		{"plain relative path", "data/factorial.db", "data/factorial.db?", "data/factorial.db", ""},
		{"plain absolute path", "/var/lib/f.db", "/var/lib/f.db?", "/var/lib/f.db", ""},
		{"sqlite:// relative path", "sqlite://data/f.db", "data/f.db?", "data/f.db", ""},
		{"sqlite:/// absolute path", "sqlite:///var/lib/f.db", "/var/lib/f.db?", "/var/lib/f.db", ""},
		{"sqlite: path", "sqlite:data/f.db", "data/f.db?", "data/f.db", ""},
		{"query of the URL is kept", "sqlite://f.db?_pragma=cache_size(-2000)", "f.db?_pragma=cache_size(-2000)&", "f.db", ""},
		{"file: URI is passed on", "file:data/f.db?mode=rwc", "file:data/f.db?mode=rwc&", "data/f.db", ""},
		{"file:/// URI names an absolute path", "file:///var/lib/f.db", "file:///var/lib/f.db?", "/var/lib/f.db", ""},
		{"memory has no path", ":memory:", ":memory:?", "", ""},
		{"memory URI has no path", "file:x?mode=memory&cache=shared", "file:x?mode=memory", "", ""},
		{"scheme without a path is an error", "sqlite://", "", "", "names no SQLite file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, path, err := sqliteDSN(tc.raw)
			if tc.wantErrSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) || !strings.Contains(err.Error(), "DATABASE_URL") {
					t.Fatalf("err = %v, want one naming DATABASE_URL with %q", err, tc.wantErrSubstring)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(dsn, tc.wantDSNPrefix) || !strings.HasSuffix(dsn, sqlitePragmas) || path != tc.wantPath {
				t.Fatalf("dsn=%q path=%q, want dsn %q…%q, path %q", dsn, path, tc.wantDSNPrefix, sqlitePragmas, tc.wantPath)
			}
		})
	}
}
