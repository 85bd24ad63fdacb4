package site

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// lingerTimeout bounds how long a refused connection's unread input is
// drained before the socket closes, so the client reads the response
// instead of a reset.
const lingerTimeout = 2 * time.Second

// refuseAndClose answers 400 and closes the connection at once, without
// net/http reading any more of the request: after a request with unsafe
// framing, nothing more on the connection can be trusted, its body included.
func refuseAndClose(w *responseWriter) {
	conn, buf, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		w.Header().Set("Connection", "close")
		errpage.Write(w, http.StatusBadRequest)
		return
	}
	w.status = http.StatusBadRequest
	body := errpage.Page(http.StatusBadRequest)
	_, _ = buf.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\nCache-Control: no-store\r\nServer: ")
	_, _ = buf.WriteString(w.server[0])
	_, _ = buf.WriteString("\r\nDate: " + time.Now().UTC().Format(http.TimeFormat))
	_, _ = buf.WriteString("\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	_, _ = buf.Write(body)
	_ = buf.Flush()
	w.bytes = int64(len(body))
	go lingerClose(conn)
}

// lingerClose half-closes conn and discards what the client still sends,
// for a bounded time, before closing.
func lingerClose(conn net.Conn) {
	defer conn.Close()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else if u, ok := conn.(interface{ NetConn() net.Conn }); ok {
		if cw, ok := u.NetConn().(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, conn, 1<<20)
}
