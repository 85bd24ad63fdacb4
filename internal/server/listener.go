package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/framing"
)

// Limits applied to every client connection. Issue-level settings for these
// come with the shielding work; these are the safe defaults until then.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 75 * time.Second
	maxHeaderBytes    = 64 << 10
	// maxHeadScan leaves room for net/http's own slack above maxHeaderBytes,
	// so net/http refuses an oversized head before the scanner would.
	maxHeadScan = maxHeaderBytes + 16<<10
)

// listener is one open address. It outlives config reloads while the new
// config still lists the address; only its handler is swapped.
type listener struct {
	addr    string
	ln      net.Listener
	srv     *http.Server
	handler atomic.Pointer[http.Handler]
	done    chan struct{}
}

func openListener(addr string, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &listener{addr: addr, ln: ln, done: make(chan struct{})}
	l.srv = &http.Server{
		Handler:                      l,
		ReadHeaderTimeout:            readHeaderTimeout,
		IdleTimeout:                  idleTimeout,
		MaxHeaderBytes:               maxHeaderBytes,
		DisableGeneralOptionsHandler: true, // OPTIONS * must reach our handler too
		ConnContext:                  framing.ContextWithConn,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return l, nil
}

// serve runs the accept loop until the listener closes.
func (l *listener) serve(log *slog.Logger) {
	defer close(l.done)
	err := l.srv.Serve(framing.Listener{Listener: l.ln, MaxHead: maxHeadScan})
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("listener stopped", "addr", l.addr, "error", err)
	}
}

// ServeHTTP hands the request to the handler current at arrival.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.handler.Load()).ServeHTTP(w, r)
}

// shutdown stops accepting, lets requests in flight finish within ctx, then
// closes what is left.
func (l *listener) shutdown(ctx context.Context) {
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	<-l.done
}
