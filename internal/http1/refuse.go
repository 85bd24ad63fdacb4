package http1

import (
	"strconv"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// refuse answers a head that is not passed to the handler, reports it, and
// leaves the connection to be closed: after such a head nothing more on it
// can be trusted.
func (c *conn) refuse(o *Options, h *head, e *headError) {
	body := errpage.Page(e.status)
	b := c.hb[:0]
	b = append(b, "HTTP/1.1 "...)
	b = appendStatusLine(b, e.status)
	b = append(b, "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nServer: "...)
	b = append(b, o.ServerName...)
	b = append(b, "\r\nDate: "...)
	b = append(b, c.srv.date.Get()...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.hb = b[:0]
	_, _ = c.bw.Write(b)
	_ = c.bw.Flush()
	if o.Refused != nil {
		proto := h.proto
		if proto == "" {
			proto = "HTTP/1.1"
		}
		o.Refused(Refusal{RemoteAddr: c.remote, Method: h.method, Target: h.target, Proto: proto, Status: e.status, Reason: e.reason})
	}
	c.linger()
}

// appendStatusLine appends "CODE Reason\r\n".
func appendStatusLine(b []byte, code int) []byte {
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, errpage.StatusText(code)...)
	return append(b, "\r\n"...)
}
