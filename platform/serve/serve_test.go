package serve_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/serve"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := serve.Listen("127.0.0.1:0", serve.Config{MaxConns: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestRun(t *testing.T) {
	t.Run("a stop lets the request in flight finish, then cancels the work", func(t *testing.T) {
		ln := listen(t)
		addr := ln.Addr().String()
		inRequest := make(chan struct{})
		workStopped := make(chan struct{})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(inRequest)
			time.Sleep(200 * time.Millisecond)
			select {
			case <-workStopped:
				_, _ = w.Write([]byte("the work stopped before this request ended"))
			default:
				_, _ = w.Write([]byte("finished"))
			}
		})}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- serve.Run(ctx, srv, ln, func(ctx context.Context) error {
				<-ctx.Done()
				close(workStopped)
				return nil
			})
		}()
		got := make(chan string, 1)
		go func() {
			for {
				resp, err := http.Get("http://" + addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- string(body)
				return
			}
		}()
		<-inRequest
		stop()
		if body := <-got; body != "finished" {
			t.Fatalf("request in flight got %q", body)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		select {
		case <-workStopped:
		default:
			t.Fatal("work was not cancelled")
		}
	})
	t.Run("work that fails stops the server and is returned", func(t *testing.T) {
		boom := errors.New("boom")
		err := serve.Run(context.Background(), &http.Server{}, listen(t), func(context.Context) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an address in use is an error naming HTTP_ADDR", func(t *testing.T) {
		ln := listen(t)
		if _, err := serve.Listen(ln.Addr().String(), serve.Config{MaxConns: 1}); err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
			t.Fatalf("got %v", err)
		}
	})
}
