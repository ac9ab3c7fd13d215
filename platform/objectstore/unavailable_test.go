package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/objectstore"
)

// What an S3 answers about the request itself (an absent key, access denied) is not the store
// being unavailable; a 503 (overloaded) and a store that is gone (a refused connection, through
// the SDK's own wrapping and retries) are, and so are ErrNoAnswer and a timeout. A caller that
// left is neither.
func TestUnavailable(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	s := newS3(t, f.config())
	ctx := t.Context()
	if _, err := s.Put(ctx, "a.txt", strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	_, missing := s.Open(ctx, "absent.txt")
	answer := func(code int) error {
		f.mu.Lock()
		f.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(code)
			return true
		}
		f.mu.Unlock()
		_, err := s.Put(ctx, "b.txt", strings.NewReader("2"))
		return err
	}
	denied := answer(http.StatusForbidden)
	overloaded := answer(http.StatusServiceUnavailable)
	f.srv.Close()
	_, putDown := s.Put(ctx, "c.txt", strings.NewReader("3"))
	_, openDown := s.Open(ctx, "a.txt")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"put to a store that is gone", putDown, true},
		{"open on a store that is gone", openDown, true},
		{"put answered 503", overloaded, true},
		{"no answer", fmt.Errorf("read: %w", objectstore.ErrNoAnswer), true},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), true},
		{"put answered 403", denied, false},
		{"absent key", missing, false},
		{"invalid key", objectstore.ErrInvalidKey, false},
		{"cancelled", fmt.Errorf("put: %w", context.Canceled), false},
		{"other", errors.New("something else"), false},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if got := objectstore.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if objectstore.Unavailable(nil) {
		t.Error("Unavailable(nil) = true")
	}
}
