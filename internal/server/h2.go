package server

import (
	"log/slog"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/h2"
)

// h2Options maps the client config onto the HTTP/2 server's options: a
// listener with no route that takes WebSockets leaves extended CONNECT
// out of its SETTINGS.
func (l *listener) h2Options(client config.Client, log *slog.Logger) h2.Options {
	return h2.Options{
		HeaderTimeout:   client.HeaderTimeout.Std(),
		IdleTimeout:     client.IdleTimeout.Std(),
		MaxHeaderSize:   int(client.MaxHeaderSize),
		ExtendedConnect: l.webSockets.Load(),
		Log:             log,
	}
}
