package objectstore_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/objectstore"
)

func newLocal(t *testing.T) *objectstore.Local {
	t.Helper()
	l, err := objectstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLocalContract(t *testing.T) {
	runContract(t, func(t *testing.T) objectstore.Store { return newLocal(t) })
}

func TestLocalLeavesNoTempFiles(t *testing.T) {
	l, ctx := newLocal(t), t.Context()
	mustPut(t, l, "a/b.txt", "ok")
	_, _ = l.Put(ctx, "a/c.txt", failingReader{errBoom})
	var names []string
	err := filepath.WalkDir(l.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(l.Dir(), p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a/b.txt" {
		t.Errorf("files in the store: %v, want only a/b.txt", names)
	}
}

func TestLocalPutStreamsWithoutBuffering(t *testing.T) {
	l := newLocal(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := l.Put(t.Context(), "big.txt", newGenReader(largeSize)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("Put of %d bytes allocated %d bytes; it should stream", largeSize, alloc)
	}
}

func TestNewLocalCreatesTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x", "objects")
	l, err := objectstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("directory not created: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded with the directory gone")
	}
}
