package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/activation"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/gatehouse/gatehouse/internal/config"
)

// openHTTP3 binds the UDP side of an https listener (or takes the one
// systemd passed) and prepares the HTTP/3 server for it (not behind the
// PROXY protocol: a TCP load balancer passes no QUIC). The server takes
// its certificates from the listener's TLS settings of the moment, so
// reloads reach it too.
func (l *listener) openHTTP3(client config.Client, passed *activation.Sockets, log *slog.Logger) error {
	udp, ok := passed.PacketConn(l.addr)
	if !ok {
		var err error
		if udp, err = net.ListenPacket("udp", l.addr); err != nil {
			return fmt.Errorf("listen on %s/udp for HTTP/3: %w", l.addr, err)
		}
	}
	l.udp = udp
	l.h3 = &http3.Server{
		Handler:        l,
		TLSConfig:      l.tlsOuter,
		MaxHeaderBytes: int(client.MaxHeaderSize),
		IdleTimeout:    client.IdleTimeout.Std(),
		QUICConfig: &quic.Config{
			HandshakeIdleTimeout: client.HeaderTimeout.Std(),
			MaxIdleTimeout:       client.IdleTimeout.Std(),
			// No 0-RTT: early data can be replayed by an attacker.
			Allow0RTT: false,
		},
		Logger: log.With("addr", l.addr, "proto", "h3"),
	}
	return nil
}

// serveHTTP3 runs the HTTP/3 server until the listener shuts down.
func (l *listener) serveHTTP3(log *slog.Logger) {
	if l.h3 == nil {
		return
	}
	err := l.h3.Serve(l.udp)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		log.Error("HTTP/3 server stopped", "addr", l.addr, "error", err)
	}
}

// shutdownHTTP3 sends GOAWAY to HTTP/3 clients, waits for their requests
// within ctx, then closes the UDP socket.
func (l *listener) shutdownHTTP3(ctx context.Context) {
	if l.h3 == nil {
		return
	}
	if err := l.h3.Shutdown(ctx); err != nil {
		_ = l.h3.Close()
	}
	_ = l.udp.Close()
}
