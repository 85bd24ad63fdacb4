package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// Request is one request to send upstream. The client's header map is
// written as it is, minus the fields Skip names, followed by Extra: the
// proxy never copies it.
type Request struct {
	Method string
	Target string // origin-form request-target
	Host   string
	Header http.Header
	// Skip, when set, names fields of Header not to send (hop-by-hop
	// fields, forwarding fields the proxy replaces).
	Skip  func(name string) bool
	Extra []Field
	// Body is nil or http.NoBody for none. ContentLength is its length,
	// or -1 (or 0 with a body) when unknown: then it is sent chunked. A
	// body with a Rewind method can be sent again on a fresh connection.
	Body          io.ReadCloser
	ContentLength int64
	// Close asks the upstream to close the connection after answering.
	Close bool
	// Informational, when set, receives 1xx responses other than 100
	// and 101 (103 Early Hints).
	Informational Informer
	// Into, when set, receives the final response's header fields, so a
	// proxy can parse them straight into its response's header map.
	Into http.Header
	// Gateway is what the CGI-style protocols (uwsgi, SCGI, FastCGI)
	// send besides the request itself; HTTP upstreams ignore it.
	Gateway Gateway
}

// Gateway holds the facts about a request that CGI-style variables carry
// and an HTTP request does not.
type Gateway struct {
	// Path is the request's decoded path, after rewrites: PATH_INFO and
	// the script's name come from it.
	Path string
	// RequestURI is the request-target as the client sent it
	// (REQUEST_URI).
	RequestURI string
	// Proto is the client's protocol (SERVER_PROTOCOL), e.g. HTTP/1.1.
	Proto string
	// RemoteAddr is the real client's address (REMOTE_ADDR); RemotePort
	// the port of the connection when the client is its peer, else "".
	RemoteAddr, RemotePort string
	// ServerPort is the port the client connected to (SERVER_PORT).
	ServerPort string
	// HTTPS reports a client connection over TLS.
	HTTPS bool
	// Params are the route's extra variables, rendered for the request.
	Params []Field
}

// Informer receives informational (1xx) responses.
type Informer interface {
	Informational(code int, h http.Header) error
}

// Field is one header field.
type Field struct{ Name, Value string }

// hasBody reports whether the request carries a body.
func (r *Request) hasBody() bool { return r.Body != nil && r.Body != http.NoBody }

// writeRequest writes req in HTTP/1.1 framing. Everything that goes on the
// wire is checked: a field that could break the framing is an error, so no
// client can make Gatehouse send a malformed request upstream.
func writeRequest(bw *bufio.Writer, req *Request) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpsyntax.IsToken(method) || !validTarget(req.Target) || !httpsyntax.ValidFieldValue(req.Host) || req.Host == "" {
		return errors.New("request line or Host not fit to send")
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(req.Target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.Host)
	bw.WriteString("\r\n")
	for name, values := range req.Header {
		switch name {
		case "Host", "Content-Length", "Transfer-Encoding":
			continue
		}
		if req.Skip != nil && req.Skip(name) {
			continue
		}
		for _, v := range values {
			if err := writeField(bw, name, v); err != nil {
				return err
			}
		}
	}
	for _, f := range req.Extra {
		if err := writeField(bw, f.Name, f.Value); err != nil {
			return err
		}
	}
	if req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	// As in net/http, a zero ContentLength with a body means "unknown".
	hasBody := req.hasBody()
	switch {
	case !hasBody:
		if methodSendsBody(method) {
			bw.WriteString("Content-Length: 0\r\n")
		}
	case req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		bw.WriteString("\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
	if !hasBody {
		return bw.Flush()
	}
	if _, replayable := req.Body.(interface{ Rewind() error }); !replayable {
		// A streamed body may be slow to come: let the upstream see the
		// head at once.
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if req.ContentLength > 0 {
		if err := writeLengthBody(bw, req); err != nil {
			return err
		}
		return bw.Flush()
	}
	src := &sourceReader{r: req.Body}
	if err := writeChunked(bw, src); err != nil {
		if src.err != nil {
			return &SourceError{Err: src.err}
		}
		return err
	}
	return bw.Flush()
}

// writeLengthBody copies req's body of req.ContentLength bytes. A failure
// to read it is a *SourceError (the client's side broke).
func writeLengthBody(bw *bufio.Writer, req *Request) error {
	src := &sourceReader{r: req.Body}
	n, err := io.CopyN(bw, src, req.ContentLength)
	if src.err != nil {
		return &SourceError{Err: src.err}
	}
	if err != nil {
		return fmt.Errorf("request body: %d of %d bytes: %w", n, req.ContentLength, err)
	}
	return nil
}

// writeField writes one field after checking it cannot break the framing.
func writeField(bw *bufio.Writer, name, value string) error {
	if !httpsyntax.IsToken(name) {
		return fmt.Errorf("header name %q not fit to send", name)
	}
	if !httpsyntax.ValidFieldValue(value) {
		return fmt.Errorf("value of header %q not fit to send", name)
	}
	bw.WriteString(name)
	bw.WriteString(": ")
	bw.WriteString(value)
	bw.WriteString("\r\n")
	return nil
}

// SourceError reports that the request body itself failed to read (the
// client's side), as opposed to the upstream connection.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "reading the request body: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// sourceReader remembers a failure of the body being sent.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// writeChunked copies r as chunks, flushing each so a streamed upload flows.
func writeChunked(bw *bufio.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			bw.WriteString(strconv.FormatInt(int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, werr := bw.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return fmt.Errorf("request body: %w", err)
		}
	}
}

func methodSendsBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// validTarget reports whether a request-target has no whitespace or
// control characters.
func validTarget(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
