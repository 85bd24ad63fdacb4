// Package wire holds the pieces of the HTTP/1.1 message format (RFC 9112)
// that Gatehouse's own parsers share: strict lines, header fields, and
// Content-Length and chunked bodies. The upstream client and the client-side
// front end both read through it, so both refuse the same ambiguous framings.
package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// Bounds on what a peer may send in a head or a chunked body's metadata.
const (
	MaxHeadBytes  = 1 << 20
	MaxFieldCount = 1000
)

// ErrMalformed wraps every framing problem found in a message.
var ErrMalformed = errors.New("malformed HTTP message")

// Malformed returns an error wrapping ErrMalformed.
func Malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ReadLine reads one CRLF-terminated line and charges it to budget. A bare
// LF, a CR elsewhere or an overlong line is an error: the framing must be
// unambiguous.
func ReadLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, Malformed("line longer than %d bytes", br.Size())
	}
	if err != nil {
		return nil, err
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, Malformed("head larger than allowed")
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, Malformed("line not terminated by CRLF")
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, Malformed("stray CR")
	}
	return line, nil
}

// AddField parses one "name: value" line into hdr, refusing obs-fold,
// invalid names and control characters in values.
func AddField(hdr http.Header, line []byte) error {
	if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
		return Malformed("obsolete line folding")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !httpsyntax.IsToken(line[:colon]) {
		return Malformed("invalid header field %q", Truncate(line))
	}
	value := httpsyntax.TrimOWS(line[colon+1:])
	if !httpsyntax.ValidFieldValue(value) {
		return Malformed("invalid value in header %q", line[:colon])
	}
	key := textproto.CanonicalMIMEHeaderKey(string(line[:colon]))
	hdr[key] = append(hdr[key], string(value))
	return nil
}

// Truncate shortens b for an error message.
func Truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
