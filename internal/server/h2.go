//lint:file-ignore SA1019 net/http's HTTP/2 server cannot leave a setting out of one listener's SETTINGS; x/net's (deprecated in favour of it) serves each connection, until Gatehouse has an HTTP/2 server of its own (the e2e test of the announcement guards the behaviour across versions).

package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"log/slog"
	"net"
	"net/http"

	"golang.org/x/net/http2"

	"github.com/gatehouse/gatehouse/internal/config"
)

// newH2Server returns the HTTP/2 server of a listener: over TLS for an
// https listener (fed handshaken connections), h2c with prior knowledge
// for a plain one (fed the connections the HTTP/1.1 front end hands over).
// net/http accepts and tracks the connections; x/net's HTTP/2 server
// serves each, so that a connection's first frame, its SETTINGS, can leave
// out SETTINGS_ENABLE_CONNECT_PROTOCOL (WebSockets over HTTP/2) on
// listeners with no route that takes WebSockets. Its limits are fixed when
// the listener opens: net/http reads them without synchronization.
func (l *listener) newH2Server(client config.Client, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           l,
		ReadHeaderTimeout: client.HeaderTimeout.Std(),
		IdleTimeout:       client.IdleTimeout.Std(),
		MaxHeaderBytes:    int(client.MaxHeaderSize),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// The protocol's default frame size, as nginx uses: Go's
		// 1 MB default lets a client send 1 MB header frames.
		HTTP2: &http.HTTP2Config{MaxReadFrameSize: 16 << 10},
	}
	if l.scheme == "http" {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		srv.Protocols = &protos
	}
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			l.h2Conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			l.h2Conns.Add(-1)
		}
	}
	h2 := &http2.Server{MaxReadFrameSize: 16 << 10}
	// Graceful shutdown of the HTTP/2 connections, and the TLSNextProto
	// entries replaced below.
	_ = http2.ConfigureServer(srv, h2)
	serve := func(hs *http.Server, c net.Conn, h http.Handler, sawPreface bool) {
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(c, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs, SawClientPreface: sawPreface})
	}
	srv.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		if l.webSockets.Load() {
			serve(hs, c, h, false)
			return
		}
		serve(hs, &tlsNoTunnels{Conn: c}, h, false)
	}
	// net/http hands an h2c connection over wrapped as a *tls.Conn that
	// is none; what it wraps is the connection, its preface read.
	srv.TLSNextProto["unencrypted_http2"] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		u, ok := c.NetConn().(interface{ UnencryptedNetConn() net.Conn })
		if !ok {
			_ = c.Close()
			return
		}
		nc := u.UnencryptedNetConn()
		if !l.webSockets.Load() {
			nc = &plainNoTunnels{Conn: nc}
		}
		serve(hs, nc, h, true)
	}
	return srv
}

// settingEnableConnectProtocol is the HTTP/2 setting that announces
// extended CONNECT (RFC 8441).
const settingEnableConnectProtocol = 0x8

// noTunnels drops SETTINGS_ENABLE_CONNECT_PROTOCOL from the first thing
// an HTTP/2 server writes on a connection, its SETTINGS frame.
type noTunnels struct{ done bool }

// write writes p to w, the first time without the setting.
func (f *noTunnels) write(w net.Conn, p []byte) (int, error) {
	if f.done {
		return w.Write(p)
	}
	f.done = true
	out, ok := withoutSetting(p, settingEnableConnectProtocol)
	if !ok {
		return w.Write(p)
	}
	if _, err := w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// withoutSetting returns p, which starts with a SETTINGS frame, less the
// entries of setting id; false when p does not start with a whole
// SETTINGS frame that has one.
func withoutSetting(p []byte, id uint16) ([]byte, bool) {
	if len(p) < 9 || p[3] != 0x4 || p[4] != 0 || binary.BigEndian.Uint32(p[5:9]) != 0 {
		return nil, false
	}
	n := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
	if n%6 != 0 || 9+n > len(p) {
		return nil, false
	}
	out := make([]byte, 9, len(p))
	copy(out, p[:9])
	found := false
	for i := 9; i < 9+n; i += 6 {
		if binary.BigEndian.Uint16(p[i:]) == id {
			found = true
			continue
		}
		out = append(out, p[i:i+6]...)
	}
	if !found {
		return nil, false
	}
	m := len(out) - 9
	out[0], out[1], out[2] = byte(m>>16), byte(m>>8), byte(m)
	return append(out, p[9+n:]...), true
}

// tlsNoTunnels is a TLS connection whose HTTP/2 server announces no
// extended CONNECT.
type tlsNoTunnels struct {
	*tls.Conn
	f noTunnels
}

func (c *tlsNoTunnels) Write(p []byte) (int, error) { return c.f.write(c.Conn, p) }

// plainNoTunnels is an h2c connection whose HTTP/2 server announces no
// extended CONNECT.
type plainNoTunnels struct {
	net.Conn
	f noTunnels
}

func (c *plainNoTunnels) Write(p []byte) (int, error) { return c.f.write(c.Conn, p) }
