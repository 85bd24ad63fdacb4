package site

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// responseWriter records the status and size of a response for the access
// log, sets Gatehouse's Server header when the handler set none, and closes
// the connection after any refused protocol upgrade (after which the framing
// of the connection is no longer followed).
type responseWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	server  []string
	upgrade bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		h := w.Header()
		if _, ok := h["Server"]; !ok {
			h["Server"] = w.server
		}
		if w.upgrade && code != http.StatusSwitchingProtocols {
			h.Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Unwrap gives http.ResponseController access to Flush and deadlines.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection for an upgraded protocol.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
