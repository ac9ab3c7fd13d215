package objectstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/objectstore"
)

// largeSize is big enough to take the multipart path of the S3 store (5 MiB parts in tests).
const largeSize = 20 << 20

var errBoom = errors.New("boom: producer failed")

// runContract checks the promises of objectstore.Store against the stores newStore returns;
// each call must return an empty store.
func runContract(t *testing.T, newStore func(t *testing.T) objectstore.Store) {
	t.Run("put then open reads back the bytes and the same info", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		before := time.Now().Add(-2 * time.Second)
		obj := mustPut(t, s, "results/7.txt", "5040")
		if obj.Key != "results/7.txt" || obj.Size != 4 || obj.Bucket != s.Bucket() {
			t.Fatalf("Put returned %+v, want key results/7.txt, size 4, bucket %q", obj, s.Bucket())
		}
		if !strings.HasPrefix(obj.ETag, `"`) || !strings.HasSuffix(obj.ETag, `"`) || len(obj.ETag) < 3 {
			t.Errorf("ETag %q is not a quoted string", obj.ETag)
		}
		if obj.ModTime.Before(before) || obj.ModTime.After(time.Now().Add(2*time.Second)) {
			t.Errorf("ModTime %v is not about now", obj.ModTime)
		}
		r, err := s.Open(ctx, "results/7.txt")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer r.Close()
		info := r.Info()
		if info.Key != obj.Key || info.Size != obj.Size || info.ETag != obj.ETag || info.Bucket != obj.Bucket {
			t.Errorf("Info() = %+v, want the Put result %+v", info, obj)
		}
		if got := readAll(t, r); got != "5040" {
			t.Errorf("read %q, want 5040", got)
		}
	})

	t.Run("empty object has size zero and reads EOF", func(t *testing.T) {
		s := newStore(t)
		if obj := mustPut(t, s, "empty", ""); obj.Size != 0 {
			t.Errorf("size %d, want 0", obj.Size)
		}
		if got := mustRead(t, s, "empty"); got != "" {
			t.Errorf("read %q, want empty", got)
		}
	})

	t.Run("seek then read returns the range", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		const content = "0123456789abcdefghij" // 20 bytes
		mustPut(t, s, "seek.txt", content)
		r, err := s.Open(ctx, "seek.txt")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer r.Close()
		steps := []struct {
			name    string
			offset  int64
			whence  int
			wantPos int64
			n       int
			want    string
		}{
			{"end gives the size", 0, io.SeekEnd, 20, 0, ""},
			{"from start", 5, io.SeekStart, 5, 3, "567"},
			{"from current", 2, io.SeekCurrent, 10, 2, "ab"},
			{"back from current", -4, io.SeekCurrent, 8, 4, "89ab"},
			{"from end", -3, io.SeekEnd, 17, 10, "hij"},
			{"past the end reads nothing", 5, io.SeekEnd, 25, 10, ""},
			{"back to start reads all", 0, io.SeekStart, 0, 100, content},
		}
		for _, st := range steps {
			pos, err := r.Seek(st.offset, st.whence)
			if err != nil || pos != st.wantPos {
				t.Fatalf("%s: Seek = %d, %v; want %d", st.name, pos, err, st.wantPos)
			}
			if st.n == 0 {
				continue
			}
			got, err := io.ReadAll(io.LimitReader(r, int64(st.n)))
			if err != nil || string(got) != st.want {
				t.Fatalf("%s: read %q, %v; want %q", st.name, got, err, st.want)
			}
		}
		if _, err := r.Seek(-1, io.SeekStart); err == nil {
			t.Error("Seek to a negative position succeeded")
		}
	})

	t.Run("http.ServeContent answers a Range request", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, "range.txt", "0123456789abcdefghij")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r, err := s.Open(req.Context(), "range.txt")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer r.Close()
			w.Header().Set("ETag", r.Info().ETag)
			http.ServeContent(w, req, "", r.Info().ModTime, r)
		}))
		defer srv.Close()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Range", "bytes=10-14")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || string(body) != "abcde" {
			t.Errorf("got %d %q, want 206 \"abcde\"", resp.StatusCode, body)
		}
		if cr := resp.Header.Get("Content-Range"); cr != "bytes 10-14/20" {
			t.Errorf("Content-Range %q, want bytes 10-14/20", cr)
		}
	})

	t.Run("open of an absent key is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Open(t.Context(), "missing/1.txt")
		if !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("Open = %v, want ErrNotFound", err)
		}
	})

	t.Run("overwrite replaces the object and its etag", func(t *testing.T) {
		s := newStore(t)
		first := mustPut(t, s, "o.txt", "first version")
		second := mustPut(t, s, "o.txt", "second, longer version")
		if first.ETag == second.ETag {
			t.Errorf("ETag %q unchanged after overwrite", first.ETag)
		}
		if got := mustRead(t, s, "o.txt"); got != "second, longer version" {
			t.Errorf("read %q after overwrite", got)
		}
	})

	t.Run("delete removes and absent delete succeeds", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		mustPut(t, s, "d/x.txt", "x")
		for i := range 2 {
			if err := s.Delete(ctx, "d/x.txt"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := s.Open(ctx, "d/x.txt"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "never/there"); err != nil {
			t.Errorf("Delete of absent key: %v", err)
		}
	})

	t.Run("a failing reader stores nothing", func(t *testing.T) {
		for _, size := range []int64{1000, 7 << 20} { // single part and, on S3, multipart
			t.Run(fmt.Sprintf("after %d bytes", size), func(t *testing.T) {
				s, ctx := newStore(t), t.Context()
				bad := io.MultiReader(newGenReader(size), failingReader{errBoom})
				_, err := s.Put(ctx, "new.txt", bad)
				if !errors.Is(err, errBoom) {
					t.Fatalf("Put = %v, want the reader's error", err)
				}
				if _, err := s.Open(ctx, "new.txt"); !errors.Is(err, objectstore.ErrNotFound) {
					t.Errorf("Open after failed Put = %v, want ErrNotFound", err)
				}

				mustPut(t, s, "old.txt", "kept")
				bad = io.MultiReader(newGenReader(size), failingReader{errBoom})
				if _, err := s.Put(ctx, "old.txt", bad); !errors.Is(err, errBoom) {
					t.Fatalf("Put over existing = %v, want the reader's error", err)
				}
				if got := mustRead(t, s, "old.txt"); got != "kept" {
					t.Errorf("previous object reads %q after failed overwrite, want kept", got)
				}
			})
		}
	})

	t.Run("readers see the old object until put completes", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		mustPut(t, s, "a.txt", "old")
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, "a.txt", pr)
			done <- err
		}()
		if _, err := pw.Write(bytes.Repeat([]byte("n"), 1<<20)); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, s, "a.txt"); got != "old" {
			t.Fatalf("mid-Put read %d bytes, want the old object", len(got))
		}
		if _, err := pw.Write([]byte("end")); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if err := <-done; err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := mustRead(t, s, "a.txt"); len(got) != 1<<20+3 || !strings.HasSuffix(got, "end") {
			t.Fatalf("after Put read %d bytes, want the new object", len(got))
		}
	})

	t.Run("large object streams through", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		obj, err := s.Put(ctx, "big/20MB.txt", newGenReader(largeSize))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if obj.Size != largeSize {
			t.Fatalf("size %d, want %d", obj.Size, largeSize)
		}
		r, err := s.Open(ctx, "big/20MB.txt")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer r.Close()
		if r.Info().Size != largeSize || r.Info().ETag != obj.ETag {
			t.Errorf("Info %+v does not match Put %+v", r.Info(), obj)
		}
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			t.Fatalf("read: %v", err)
		}
		if got, want := h.Sum(nil), genSum(largeSize); !bytes.Equal(got, want) {
			t.Fatal("content read back differs from content written")
		}
		// A range across a part boundary.
		const off = 5<<20 - 10
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 20)
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatal(err)
		}
		if want := genBytes(off, 20); !bytes.Equal(got, want) {
			t.Errorf("range at %d = %q, want %q", off, got, want)
		}
	})

	t.Run("concurrent puts of one key leave one whole version", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				if _, err := s.Put(ctx, "race.txt", strings.NewReader(strings.Repeat(fmt.Sprint(i), 1000+i))); err != nil {
					t.Errorf("Put #%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		got := mustRead(t, s, "race.txt")
		if len(got) < 1000 || strings.Count(got, got[:1]) != len(got) || len(got) != 1000+int(got[0]-'0') {
			t.Errorf("read a mixed or partial object of %d bytes", len(got))
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		t.Run("put before start stores nothing", func(t *testing.T) {
			s := newStore(t)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := s.Put(ctx, "c.txt", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want context.Canceled", err)
			}
			assertAbsent(t, s, "c.txt")
		})
		t.Run("put midway stores nothing", func(t *testing.T) {
			s := newStore(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := &cancelAfter{r: newGenReader(12 << 20), n: 7 << 20, cancel: cancel}
			if _, err := s.Put(ctx, "c.txt", r); !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want context.Canceled", err)
			}
			assertAbsent(t, s, "c.txt")
		})
		t.Run("open fails", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "c.txt", "x")
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := s.Open(ctx, "c.txt"); !errors.Is(err, context.Canceled) {
				t.Fatalf("Open = %v, want context.Canceled", err)
			}
		})
		t.Run("read after cancel fails", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "c.txt", "some content")
			ctx, cancel := context.WithCancel(t.Context())
			r, err := s.Open(ctx, "c.txt")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cancel()
			if _, err := r.Read(make([]byte, 4)); !errors.Is(err, context.Canceled) {
				t.Fatalf("Read = %v, want context.Canceled", err)
			}
		})
	})

	t.Run("invalid keys are rejected", func(t *testing.T) {
		s, ctx := newStore(t), t.Context()
		for _, key := range []string{"", "/etc/passwd", "../up", "a/../../up", "a//b", "./a", "a/.", `a\b`} {
			if _, err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, objectstore.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Open(ctx, key); !errors.Is(err, objectstore.ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, objectstore.ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("ping succeeds", func(t *testing.T) {
		if err := newStore(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func mustPut(t *testing.T, s objectstore.Store, key, content string) objectstore.Object {
	t.Helper()
	obj, err := s.Put(t.Context(), key, strings.NewReader(content))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

func mustRead(t *testing.T, s objectstore.Store, key string) string {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	return readAll(t, r)
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func assertAbsent(t *testing.T, s objectstore.Store, key string) {
	t.Helper()
	if _, err := s.Open(t.Context(), key); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
	}
}

// genReader produces a deterministic stream of decimal digits without holding it in memory,
// like the calculator writing n!.
type genReader struct{ pos, size int64 }

func newGenReader(size int64) *genReader { return &genReader{size: size} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.pos >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-g.pos))
	for i := range n {
		p[i] = genByte(g.pos + int64(i))
	}
	g.pos += int64(n)
	return n, nil
}

func genByte(i int64) byte { return '0' + byte((i*7+i/1021)%10) }

func genBytes(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = genByte(off + int64(i))
	}
	return b
}

func genSum(size int64) []byte {
	h := sha256.New()
	_, _ = io.Copy(h, newGenReader(size))
	return h.Sum(nil)
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// cancelAfter cancels a context once n bytes have been read, and keeps producing data.
type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read >= c.n {
		c.cancel()
	}
	return n, err
}
