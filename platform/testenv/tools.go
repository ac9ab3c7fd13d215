package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ToolsDir names the directory of the servers `make tools` builds (bin/versitygw...), when
// they are somewhere else than the workspace's bin/.
const ToolsDir = "TEST_TOOLS_DIR"

// Tool returns the path of the server binary name built by `make tools` (in TEST_TOOLS_DIR,
// else in bin/ of the workspace), or skips the test with a line saying how to build it
// (fails it when TEST_REQUIRE_SERVERS=1).
func Tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(ToolsDir)
	if dir == "" {
		root, err := workspaceRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "bin")
	}
	path := filepath.Join(dir, name)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return path
	case !errors.Is(err, os.ErrNotExist):
		t.Fatalf("%s: %v", path, err)
	case Required():
		t.Fatalf("%s is missing and %s=1: run `make tools` to build it", path, Require)
	default:
		t.Skipf("SKIP: %s is missing; run `make tools` to build it", path)
	}
	return ""
}
