package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/gatehouse/gatehouse/internal/activation"
	"github.com/gatehouse/gatehouse/internal/certs"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/conngate"
	"github.com/gatehouse/gatehouse/internal/h2"
	"github.com/gatehouse/gatehouse/internal/http1"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/quicsteer"
	"github.com/gatehouse/gatehouse/internal/site"
)

// serverName is the Server header of the responses Gatehouse writes.
const serverName = "gatehouse"

// options maps the client config onto the front end's options. A plain
// listener hands connections that open with the HTTP/2 preface (h2c with
// prior knowledge) to its HTTP/2 server.
func (l *listener) options(c config.Client, log *slog.Logger) http1.Options {
	o := http1.Options{
		HeaderTimeout: c.HeaderTimeout.Std(),
		IdleTimeout:   c.IdleTimeout.Std(),
		MaxHeaderSize: int(c.MaxHeaderSize),
		ServerName:    serverName,
		Refused:       l.refused,
		Log:           log,
		OutOfFiles:    l.relieve,
	}
	if l.scheme == "http" {
		o.Gate = l.gate
		o.PriorKnowledge = func(nc net.Conn) {
			if !l.h2q.push(nc) {
				_ = nc.Close()
			}
		}
	}
	return o
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
	scheme  string
	ln      net.Listener
	srv     *http1.Server
	handler atomic.Pointer[http.Handler]
	done    chan struct{}

	// The HTTP/2 server (over TLS, or h2c with prior knowledge on a
	// plain listener) and the queue that takes connections to it;
	// webSockets tells whether a route of the listener takes WebSockets,
	// for only then do its HTTP/2 connections announce extended CONNECT.
	h2         *h2.Server
	h2q        *connQueue
	webSockets atomic.Bool
	// stats counts TLS handshakes.
	stats *metrics.Listener
	// gate admits connections: bans, conn_limit, the PROXY protocol.
	gate *conngate.Gate
	// relieve closes idle connections when accept runs out of file
	// descriptors (the instance's, over all listeners); nil: none.
	relieve func() bool

	// https only: the TLS settings of the current config (certificates
	// chosen by server name), the handshake bound, and the queue that
	// takes handshaken connections to the HTTP/1.1 front end. tlsOuter
	// lives as long as the listener so that session tickets stay valid
	// across reloads.
	tlsConf          atomic.Pointer[tls.Config]
	tlsOuter         *tls.Config
	handshakeTimeout atomic.Int64
	h1               *connQueue
	// https only: HTTP/3 on the UDP port of the same number.
	udp net.PacketConn
	// udpPassed: the last upgrade passed the UDP socket itself to the
	// successor, for want of sharing it.
	udpPassed atomic.Bool
	quic      *quic.Transport
	quicLn    *quic.EarlyListener
	h3        *http3.Server
}

func openListener(spec site.Listener, client config.Client, stats *metrics.Listener, gate *conngate.Gate, passed *activation.Sockets, tag quicsteer.Tag, log *slog.Logger) (*listener, error) {
	addr, scheme := spec.Addr, spec.Scheme
	ln, inherited, err := listen(spec, passed)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if inherited {
		log.Info("listening on a passed socket", "addr", addr)
	}
	l := &listener{addr: addr, scheme: scheme, ln: ln, done: make(chan struct{}), stats: stats, gate: gate}
	l.h2q = newConnQueue(ln.Addr())
	l.h2 = h2.New(l, l.h2Options(client, log))
	l.srv = http1.New(l, l.options(client, log))
	if scheme == "https" {
		l.tlsOuter = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return certs.ForClient(l.tlsConf.Load(), hello)
		}}
		l.h1 = newConnQueue(ln.Addr())
		if !spec.Proxy {
			if err := l.openHTTP3(client, passed, tag, log); err != nil {
				_ = ln.Close()
				return nil, err
			}
		}
	}
	return l, nil
}

// configure applies a (re)loaded client config, TLS settings, connection
// limits and whether the listener's routes take WebSockets.
func (l *listener) configure(client config.Client, spec site.Listener, tlsConf *tls.Config, refused map[string]func(), log *slog.Logger) {
	l.gate.SetSettings(conngate.Settings{PerIP: spec.ConnLimit.PerIP, Total: spec.ConnLimit.Total, Trust: spec.Trust,
		HeaderTimeout: client.HeaderTimeout.Std(), Refused: refused})
	l.srv.SetOptions(l.options(client, log))
	l.webSockets.Store(spec.WebSockets)
	l.h2.SetOptions(l.h2Options(client, log))
	if l.scheme == "https" {
		l.tlsConf.Store(tlsConf)
		l.handshakeTimeout.Store(int64(client.HeaderTimeout.Std()))
	}
}

// closeUnserved closes the sockets of a listener that never served.
func (l *listener) closeUnserved() {
	_ = l.ln.Close()
	if l.udp != nil {
		l.closeHTTP3()
	}
}

// serve runs the accept loop until the listener closes.
func (l *listener) serve(log *slog.Logger) {
	defer close(l.done)
	var err error
	if l.scheme == "https" {
		err = l.serveTLS(log)
	} else {
		go func() {
			if err := l.h2.Serve(l.h2q); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Error("h2c server stopped", "addr", l.addr, "error", err)
			}
		}()
		err = l.srv.Serve(l.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("listener stopped", "addr", l.addr, "error", err)
	}
}

// fullScheme is the scheme as configured (proxy+https...).
func (l *listener) fullScheme() string {
	if l.gate.Proxy() {
		return "proxy+" + l.scheme
	}
	return l.scheme
}

// openConns counts the client connections being served.
func (l *listener) openConns() int {
	return l.srv.OpenConns() + l.h2.OpenConns()
}

// ServeHTTP hands the request to the handler current at arrival.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.handler.Load()).ServeHTTP(w, r)
}

// InlineHandler is the current handler's (http1.Inliner), so that a
// request it takes is served by the handler that judged it.
func (l *listener) InlineHandler(r *http.Request) http.Handler {
	if in, ok := (*l.handler.Load()).(http1.Inliner); ok {
		return in.InlineHandler(r)
	}
	return nil
}

// refused passes a refused head to the current handler's log.
func (l *listener) refused(r http1.Refusal) {
	if rl, ok := (*l.handler.Load()).(refusalLogger); ok {
		rl.Refused(r)
	}
}

// shutdown stops accepting, lets requests in flight finish within ctx, then
// closes what is left; handedOver: a successor serves on its sockets.
func (l *listener) shutdown(ctx context.Context, handedOver bool) {
	if l.scheme != "https" {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.h2.Shutdown(ctx); err != nil {
				_ = l.h2.Close()
			}
		}()
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
		wg.Wait()
		<-l.done
		return
	}
	_ = l.ln.Close()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		l.shutdownHTTP3(ctx, handedOver)
	}()
	go func() {
		defer wg.Done()
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
	}()
	go func() {
		defer wg.Done()
		if err := l.h2.Shutdown(ctx); err != nil {
			_ = l.h2.Close()
		}
	}()
	wg.Wait()
	<-l.done
}
