package upstream

import (
	"bufio"
	"fmt"
)

// UWSGI is a client for the uwsgi protocol, uWSGI's own: each request on
// a new connection (the protocol has no keep-alive), as a packet of
// CGI-style variables (modifier 0, a 16-bit little-endian size) and the
// body after it; the answer is an HTTP/1.x response read until the
// server closes (or as long as its framing says).
type UWSGI struct{ oneShot }

// maxUWSGIVars is the most the variables of one uwsgi packet can take:
// its size field has 16 bits.
const maxUWSGIVars = 1<<16 - 1

// NewUWSGI returns a uwsgi client with opt's timeouts.
func NewUWSGI(opt Options, gw GatewayOptions) *UWSGI {
	u := &UWSGI{}
	u.init(opt, gw, u.write)
	return u
}

// write sends the variables packet and the body.
func (u *UWSGI) write(bw *bufio.Writer, req *Request) error {
	cl, err := contentLengthVar(req, "")
	if err != nil {
		return err
	}
	buf := u.bufs.get()
	defer u.bufs.put(buf)
	b := append(*buf, 0, 0, 0, 0) // modifier1, size, modifier2
	b = appendPair(b, uwsgiVars{}, "CONTENT_LENGTH", cl)
	b = appendVars(b, uwsgiVars{}, req, mountedVars(req.Gateway.Path, u.gw.ScriptName))
	*buf = b
	size := len(b) - 4
	if size > maxUWSGIVars {
		return fmt.Errorf("the request's variables take %d bytes, more than uwsgi's %d", size, maxUWSGIVars)
	}
	b[1], b[2] = byte(size), byte(size>>8)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if req.hasBody() {
		if err := writeLengthBody(bw, req); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// uwsgiVars frames variables as uwsgi does: a 16-bit little-endian length
// before the name and before the value.
type uwsgiVars struct{}

func (uwsgiVars) beforeName(dst []byte, nameLen, _ int) []byte {
	return append(dst, byte(nameLen), byte(nameLen>>8))
}

func (uwsgiVars) beforeValue(dst []byte, valueLen int) []byte {
	return append(dst, byte(valueLen), byte(valueLen>>8))
}

func (uwsgiVars) afterValue(dst []byte) []byte { return dst }
