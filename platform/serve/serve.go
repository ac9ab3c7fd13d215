// Package serve runs a program's HTTP server beside its background work and stops both
// gracefully, in the right order.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds how long requests in flight may take to finish at shutdown.
const ShutdownTimeout = 10 * time.Second

// Run serves srv on ln (from Listen) and runs work beside it until ctx is cancelled or either of
// them fails. Then it stops taking requests and lets those in flight finish (up to
// ShutdownTimeout), cancels work and waits for it. It returns the first failure, or nil
// after a requested stop. Register what must end for Shutdown to complete (long-lived
// streams) with srv.RegisterOnShutdown.
func Run(ctx context.Context, srv *http.Server, ln net.Listener, work func(context.Context) error) error {
	// Not derived from ctx's cancellation: the work (event consumers, waiters' follower) must
	// outlive the requests in flight, and is cancelled only once HTTP has drained.
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	httpErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			httpErr <- fmt.Errorf("HTTP_ADDR %s: %w", ln.Addr(), err)
		}
	}()
	workErr := make(chan error, 1)
	go func() { workErr <- work(workCtx) }()

	var err error
	workDone := false
	select {
	case <-ctx.Done():
	case err = <-httpErr:
	case err = <-workErr:
		workDone = true
	}
	// Stop taking requests and let those in flight finish; what is still running after
	// ShutdownTimeout is cut off. Only then stop the work.
	sctx, done := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer done()
	if srv.Shutdown(sctx) != nil {
		_ = srv.Close()
	}
	cancel()
	if !workDone {
		if werr := <-workErr; err == nil {
			err = werr
		}
	}
	return err
}
