package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/http1"
)

// serverName is the Server header of the responses Gatehouse writes.
const serverName = "gatehouse"

// optionsOf maps the client config onto the front end's options.
func optionsOf(c config.Client, log *slog.Logger, refused func(http1.Refusal)) http1.Options {
	return http1.Options{
		HeaderTimeout: c.HeaderTimeout.Std(),
		IdleTimeout:   c.IdleTimeout.Std(),
		MaxHeaderSize: int(c.MaxHeaderSize),
		ServerName:    serverName,
		Refused:       refused,
		Log:           log,
	}
}

// refusalLogger is implemented by handlers that record refused heads.
type refusalLogger interface {
	Refused(http1.Refusal)
}

// listener is one open address. It outlives config reloads while the new
// config still lists the address; its handler and client limits are
// swapped.
type listener struct {
	addr    string
	ln      net.Listener
	srv     *http1.Server
	handler atomic.Pointer[http.Handler]
	done    chan struct{}
}

func openListener(addr string, client config.Client, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &listener{addr: addr, ln: ln, done: make(chan struct{})}
	l.srv = http1.New(l, optionsOf(client, log, l.refused))
	return l, nil
}

// configure applies a (re)loaded client config to the listener.
func (l *listener) configure(client config.Client, log *slog.Logger) {
	l.srv.SetOptions(optionsOf(client, log, l.refused))
}

// serve runs the accept loop until the listener closes.
func (l *listener) serve(log *slog.Logger) {
	defer close(l.done)
	err := l.srv.Serve(l.ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("listener stopped", "addr", l.addr, "error", err)
	}
}

// ServeHTTP hands the request to the handler current at arrival.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.handler.Load()).ServeHTTP(w, r)
}

// refused passes a refused head to the current handler's log.
func (l *listener) refused(r http1.Refusal) {
	if rl, ok := (*l.handler.Load()).(refusalLogger); ok {
		rl.Refused(r)
	}
}

// shutdown stops accepting, lets requests in flight finish within ctx, then
// closes what is left.
func (l *listener) shutdown(ctx context.Context) {
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	<-l.done
}
