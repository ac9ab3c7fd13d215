package standalone_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// A stop (SIGTERM cancels the context Start was given) stops taking requests, lets the HTTP
// requests in flight finish, and only then stops the background work: while a POST whose
// body is still arriving is in flight, a computation running beside it goes on; the POST is
// answered; only then is the computation cancelled, and its claim released (not counted as
// an attempt).
func TestShutdownOrder(t *testing.T) {
	const blocked = 50_000 // a computation of the large lane
	var cancelledAt atomic.Int64
	started := make(chan struct{}, 1)
	engine := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		if n == blocked {
			started <- struct{}{}
			<-ctx.Done()
			cancelledAt.Store(time.Now().UnixNano())
			return 0, ctx.Err()
		}
		return factorial.Write(ctx, n, w, progress)
	})
	dir := t.TempDir()
	s := start(t, testConfig(t, dir), engine)
	s.post(blocked)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the computation never started")
	}

	conn, err := net.Dial("tcp", s.app.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const body = `{"number": 123}`
	fmt.Fprintf(conn, "POST /api/v1/factorial HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body[:5])
	time.Sleep(200 * time.Millisecond) // the server is reading the body

	stopped := make(chan struct{})
	go func() {
		s.shutdown()
		close(stopped)
	}()
	// New connections are refused as soon as the stop begins.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.app.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5 s into the stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if cancelledAt.Load() != 0 {
		t.Fatal("the background work was stopped while an HTTP request was in flight")
	}
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight was not answered: %v", err)
	}
	answered := time.Now()
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the request in flight got %d", resp.StatusCode)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("not stopped 30 s after the request in flight ended")
	}
	at := cancelledAt.Load()
	if at == 0 {
		t.Fatal("the computation in progress was never cancelled")
	}
	if time.Unix(0, at).Before(answered.Add(-50 * time.Millisecond)) {
		t.Fatalf("the computation was cancelled %v before the request in flight was answered", answered.Sub(time.Unix(0, at)))
	}

	// Its claim was released for another replica, and the stop is not counted as an attempt.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := database.Open(ctx, filepath.Join(dir, "factorial.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec, err := database.NewFactorials(db).Get(ctx, blocked)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != database.StatusPending || rec.Worker != "" || rec.Attempts != 0 || rec.Error != "" {
		t.Fatalf("after the stop, %d is %s by %q, %d attempts, error %q: want released, pending, no attempt counted",
			blocked, rec.Status, rec.Worker, rec.Attempts, rec.Error)
	}
}
