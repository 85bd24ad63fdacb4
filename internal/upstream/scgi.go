package upstream

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
)

// SCGI is a client for the SCGI protocol: each request on a new
// connection, its variables as a netstring (CONTENT_LENGTH first, then
// SCGI=1 and the rest, each name and value ended by a NUL) and the body
// after it; the answer is a CGI response (or an HTTP/1.x one) read until
// the server closes.
type SCGI struct {
	base *Client
	gw   GatewayOptions
	wf   wireFormat
	bufs varBuffers
}

// NewSCGI returns an SCGI client with opt's timeouts.
func NewSCGI(opt Options, gw GatewayOptions) *SCGI {
	s := &SCGI{base: New(opt), gw: gw}
	s.wf = wireFormat{write: s.write, readHead: readGatewayHead, oneShot: true}
	return s
}

// Do sends req to addr and reads the response head, like Client.Do.
func (s *SCGI) Do(ctx context.Context, addr Addr, req *Request) (*http.Response, error) {
	return s.base.conns.send(ctx, addr, req, false, s)
}

// exchange writes req on a connection of its own and reads the response
// head.
func (s *SCGI) exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error) {
	return s.base.exchangeAs(ctx, pc, req, &s.wf)
}

// CloseIdleConnections does nothing: no connection outlives its request.
func (s *SCGI) CloseIdleConnections() {}

// CloseIdleConnectionsTo does nothing: no connection outlives its request.
func (s *SCGI) CloseIdleConnectionsTo(Addr) {}

// write sends the netstring of variables and the body.
func (s *SCGI) write(bw *bufio.Writer, req *Request) error {
	cl, err := contentLengthVar(req, "0")
	if err != nil {
		return err
	}
	buf := s.bufs.get()
	defer s.bufs.put(buf)
	b := appendPair(*buf, scgiVars{}, "CONTENT_LENGTH", cl)
	b = appendPair(b, scgiVars{}, "SCGI", "1")
	b = appendVars(b, scgiVars{}, req, mountedVars(req.Gateway.Path, s.gw.ScriptName))
	*buf = b
	var num [20]byte
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(len(b)), 10))
	_ = bw.WriteByte(':')
	_, _ = bw.Write(b)
	if err := bw.WriteByte(','); err != nil {
		return err
	}
	if req.hasBody() {
		if err := writeLengthBody(bw, req); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// scgiVars frames variables as SCGI does: a NUL after the name and after
// the value.
type scgiVars struct{}

func (scgiVars) beforeName(dst []byte, _, _ int) []byte { return dst }
func (scgiVars) beforeValue(dst []byte, _ int) []byte   { return append(dst, 0) }
func (scgiVars) afterValue(dst []byte) []byte           { return append(dst, 0) }
