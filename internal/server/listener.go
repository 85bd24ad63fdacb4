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

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/framing"
)

// listenerSettings are the client-facing limits fixed when a listener
// opens (net/http reads them without synchronization).
type listenerSettings struct {
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxHeaderSize int
}

func settingsOf(c config.Client) listenerSettings {
	return listenerSettings{c.HeaderTimeout.Std(), c.IdleTimeout.Std(), int(c.MaxHeaderSize)}
}

// goHeaderSlack is what net/http adds to MaxHeaderBytes before refusing.
const goHeaderSlack = 4096

// listener is one open address. It outlives config reloads while the new
// config still lists the address; only its handler is swapped.
type listener struct {
	addr     string
	ln       net.Listener
	srv      *http.Server
	handler  atomic.Pointer[http.Handler]
	done     chan struct{}
	settings listenerSettings
}

func openListener(addr string, set listenerSettings, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &listener{addr: addr, ln: ln, done: make(chan struct{}), settings: set}
	l.srv = &http.Server{
		Handler:                      l,
		ReadHeaderTimeout:            set.headerTimeout,
		IdleTimeout:                  set.idleTimeout,
		MaxHeaderBytes:               max(set.maxHeaderSize-goHeaderSlack, 1024),
		DisableGeneralOptionsHandler: true, // OPTIONS * must reach our handler too
		ConnContext:                  framing.ContextWithConn,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return l, nil
}

// serve runs the accept loop until the listener closes.
func (l *listener) serve(log *slog.Logger) {
	defer close(l.done)
	// The scanner's bound is above net/http's, so net/http answers 431
	// before the scanner would lose track.
	err := l.srv.Serve(framing.Listener{Listener: l.ln, MaxHead: l.settings.maxHeaderSize + 16<<10})
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
