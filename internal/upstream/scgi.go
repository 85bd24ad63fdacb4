package upstream

import (
	"bufio"
	"strconv"
)

// SCGI is a client for the SCGI protocol: each request on a new
// connection, its variables as a netstring (CONTENT_LENGTH first, then
// SCGI=1 and the rest, each name and value ended by a NUL) and the body
// after it; the answer is a CGI response (or an HTTP/1.x one) read until
// the server closes.
type SCGI struct{ oneShot }

// NewSCGI returns an SCGI client with opt's timeouts.
func NewSCGI(opt Options, gw GatewayOptions) *SCGI {
	s := &SCGI{}
	s.init(opt, gw, s.write)
	return s
}

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
