package objectstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/factorial-service/factorial/platform/objectstore"
)

// A symbolic link planted in the store, to a file outside it or inside it, or a directory
// link that leads outside, is refused with ErrUnsafe and never read; Put replaces a planted
// link with a real file, leaving its target alone.
func TestLocalRefusesPlantedLinks(t *testing.T) {
	t.Run("openat2", testLocalRefusesPlantedLinks)
	t.Run("root", func(t *testing.T) {
		objectstore.WithoutOpenat2(t)
		testLocalRefusesPlantedLinks(t)
	})
}

func testLocalRefusesPlantedLinks(t *testing.T) {
	l := newLocal(t)
	outside := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(outside, []byte("secret-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPut(t, l, "factorials/6.txt", "720")
	dir := filepath.Join(l.Dir(), "factorials")
	for _, link := range []struct{ key, target string }{
		{"factorials/5.txt", outside},
		{"factorials/7.txt", "6.txt"},
		{"factorials/8.txt", "../factorials/6.txt"},
	} {
		if err := os.Symlink(link.target, filepath.Join(l.Dir(), filepath.FromSlash(link.key))); err != nil {
			t.Fatal(err)
		}
		r, err := l.Open(t.Context(), link.key)
		if !errors.Is(err, objectstore.ErrUnsafe) {
			if r != nil {
				r.Close()
			}
			t.Errorf("%s → %s: %v, want ErrUnsafe", link.key, link.target, err)
		}
	}
	outDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(outDir, "9.txt"), []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outDir, filepath.Join(l.Dir(), "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open(t.Context(), "elsewhere/9.txt"); !errors.Is(err, objectstore.ErrUnsafe) {
		t.Errorf("through a directory link outside: %v, want ErrUnsafe", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open(t.Context(), "factorials/sub.txt"); !errors.Is(err, objectstore.ErrUnsafe) {
		t.Errorf("a directory: %v, want ErrUnsafe", err)
	}

	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open(t.Context(), "factorials/fifo.txt"); !errors.Is(err, objectstore.ErrUnsafe) {
		t.Errorf("a FIFO: %v, want ErrUnsafe", err)
	}

	mustPut(t, l, "factorials/5.txt", "120")
	if got, _ := os.ReadFile(outside); string(got) != "secret-host\n" {
		t.Fatalf("Put wrote through the link: %q", got)
	}
	r, err := l.Open(t.Context(), "factorials/5.txt")
	if err != nil {
		t.Fatalf("after Put replaced the link: %v", err)
	}
	r.Close()
}
