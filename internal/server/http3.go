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
	"github.com/gatehouse/gatehouse/internal/quicsteer"
)

// openHTTP3 binds the UDP side of an https listener (or takes the one
// systemd or an upgrade passed) and prepares the HTTP/3 server for it (not
// behind the PROXY protocol: a TCP load balancer passes no QUIC). A socket
// it binds is shareable with a successor (quicsteer), and the connection
// IDs it issues carry this process's tag, so that its connections outlive
// a binary upgrade. The server takes its certificates from the listener's
// TLS settings of the moment, so reloads reach it too.
func (l *listener) openHTTP3(client config.Client, passed *activation.Sockets, tag quicsteer.Tag, log *slog.Logger) error {
	udp, ok := passed.PacketConn(l.addr)
	if !ok {
		var err error
		if udp, err = quicsteer.Listen(context.Background(), l.addr); err != nil {
			return fmt.Errorf("listen on %s/udp for HTTP/3: %w", l.addr, err)
		}
	}
	l.h3 = &http3.Server{
		Handler:        l,
		MaxHeaderBytes: int(client.MaxHeaderSize),
		IdleTimeout:    client.IdleTimeout.Std(),
		Logger:         log.With("addr", l.addr, "proto", "h3"),
	}
	tr := &quic.Transport{Conn: udp, ConnectionIDGenerator: quicsteer.Generator{Tag: tag}}
	ln, err := tr.ListenEarly(http3.ConfigureTLSConfig(l.tlsOuter), &quic.Config{
		HandshakeIdleTimeout: client.HeaderTimeout.Std(),
		MaxIdleTimeout:       client.IdleTimeout.Std(),
		// No 0-RTT: early data can be replayed by an attacker.
		Allow0RTT: false,
	})
	if err != nil {
		_ = udp.Close()
		return fmt.Errorf("HTTP/3 on %s: %w", l.addr, err)
	}
	l.udp, l.quic, l.quicLn = udp, tr, ln
	return nil
}

// serveHTTP3 runs the HTTP/3 server until the listener shuts down.
func (l *listener) serveHTTP3(log *slog.Logger) {
	if l.h3 == nil {
		return
	}
	err := l.h3.ServeListener(l.quicLn)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		log.Error("HTTP/3 server stopped", "addr", l.addr, "error", err)
	}
}

// shutdownHTTP3 sends GOAWAY to HTTP/3 clients, waits for their requests
// within ctx, then closes the UDP socket. After a hand-over of a socket
// that could not be shared (the successor reads the very same socket, so
// this process would take datagrams of the successor's connections and
// the successor this one's) the connections close at once instead.
func (l *listener) shutdownHTTP3(ctx context.Context, handedOver bool) {
	if l.h3 == nil {
		return
	}
	if handedOver && l.udpPassed.Load() {
		_ = l.h3.Close()
	} else if err := l.h3.Shutdown(ctx); err != nil {
		_ = l.h3.Close()
	}
	l.closeHTTP3()
}

// closeHTTP3 closes the QUIC listener, its transport and the UDP socket.
func (l *listener) closeHTTP3() {
	_ = l.quicLn.Close()
	_ = l.quic.Close()
	_ = l.udp.Close()
}
