package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse/internal/wire"
)

// GatewayOptions configure the uwsgi and SCGI clients.
type GatewayOptions struct {
	// ScriptName is the application's mount point (SCRIPT_NAME); the
	// request path below it is PATH_INFO.
	ScriptName string
}

// oneShot is what the clients of the CGI-style protocols that send one
// request per connection (uwsgi, SCGI) share: they differ only in how
// they write a request.
type oneShot struct {
	base *Client
	gw   GatewayOptions
	wf   wireFormat
	bufs varBuffers
}

func (o *oneShot) init(opt Options, gw GatewayOptions, write func(*bufio.Writer, *Request) error) {
	o.base, o.gw = New(opt), gw
	o.wf = wireFormat{write: write, readHead: readGatewayHead, oneShot: true}
}

// Do sends req to addr and reads the response head, like Client.Do.
func (o *oneShot) Do(ctx context.Context, addr Addr, req *Request) (*http.Response, error) {
	return o.base.conns.send(ctx, addr, req, false, o)
}

// exchange writes req on a connection of its own and reads the response
// head.
func (o *oneShot) exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error) {
	return o.base.exchangeAs(ctx, pc, req, &o.wf)
}

// CloseIdleConnections does nothing: no connection outlives its request.
func (o *oneShot) CloseIdleConnections() {}

// CloseIdleConnectionsTo does nothing: no connection outlives its request.
func (o *oneShot) CloseIdleConnectionsTo(Addr) {}

// varEncoder is how one protocol frames a CGI-style variable: what comes
// before its name, between name and value, and after the value.
type varEncoder interface {
	beforeName(dst []byte, nameLen, valueLen int) []byte
	beforeValue(dst []byte, valueLen int) []byte
	afterValue(dst []byte) []byte
}

// appendPair appends the variable name=value.
func appendPair(dst []byte, e varEncoder, name, value string) []byte {
	dst = e.beforeName(dst, len(name), len(value))
	dst = append(dst, name...)
	dst = e.beforeValue(dst, len(value))
	dst = append(dst, value...)
	return e.afterValue(dst)
}

// appendHeaderPair appends the variable of a request header field: HTTP_
// and the field's name in upper case with '-' as '_', its values joined
// by sep (or the single value one when values is nil).
func appendHeaderPair(dst []byte, e varEncoder, field string, values []string, one, sep string) []byte {
	n := len(one)
	if values != nil {
		n = joinedLen(values, sep)
	}
	dst = e.beforeName(dst, envNameLen(field), n)
	dst = appendEnvName(dst, field)
	dst = e.beforeValue(dst, n)
	if values != nil {
		dst = appendJoined(dst, values, sep)
	} else {
		dst = append(dst, one...)
	}
	return e.afterValue(dst)
}

// scriptVars are the variables that say which script serves a request:
// what differs between the protocols.
type scriptVars struct {
	scriptName, pathInfo string
	// FastCGI only: the script's file, the root it lies under, and the
	// path before it was split (DOCUMENT_URI).
	scriptFilename, documentRoot, documentURI string
	fastCGI                                   bool
}

// mountedVars splits path at a mount point: SCRIPT_NAME is the mount
// point when path lies below it, and PATH_INFO the rest.
func mountedVars(path, mount string) scriptVars {
	if mount != "" && strings.HasPrefix(path, mount) && (len(path) == len(mount) || path[len(mount)] == '/') {
		return scriptVars{scriptName: mount, pathInfo: path[len(mount):]}
	}
	return scriptVars{pathInfo: path}
}

// appendVars appends the variables of req but CONTENT_LENGTH (which each
// protocol puts first) with the names of nginx's stock uwsgi_params,
// scgi_params and fastcgi_params: the request line, the body's type, the
// script, the client
// and the server, then every request header field as HTTP_*, the
// forwarding fields Gatehouse sets, and the route's own params.
//
// Header fields that are hop-by-hop (req.Skip names them), that have
// variables of their own (Content-Type, Content-Length), that would reach
// CGI programs as an HTTP_PROXY setting (Proxy, the httpoxy hole), or
// whose names have characters other than letters, digits and '-' (an
// X_Forwarded_For would pass for X-Forwarded-For) are not sent.
func appendVars(dst []byte, e varEncoder, req *Request, sv scriptVars) []byte {
	g := &req.Gateway
	query := ""
	if i := strings.IndexByte(req.Target, '?'); i >= 0 {
		query = req.Target[i+1:]
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	dst = appendPair(dst, e, "QUERY_STRING", query)
	dst = appendPair(dst, e, "REQUEST_METHOD", method)
	dst = appendPair(dst, e, "CONTENT_TYPE", firstValue(req.Header["Content-Type"]))
	dst = appendPair(dst, e, "REQUEST_URI", g.RequestURI)
	dst = appendPair(dst, e, "SCRIPT_NAME", sv.scriptName)
	dst = appendPair(dst, e, "PATH_INFO", sv.pathInfo)
	if sv.fastCGI {
		dst = appendPair(dst, e, "SCRIPT_FILENAME", sv.scriptFilename)
		dst = appendPair(dst, e, "DOCUMENT_URI", sv.documentURI)
		dst = appendPair(dst, e, "DOCUMENT_ROOT", sv.documentRoot)
		dst = appendPair(dst, e, "GATEWAY_INTERFACE", "CGI/1.1")
		dst = appendPair(dst, e, "SERVER_SOFTWARE", "gatehouse")
		// PHP built with cgi.force_redirect wants to see this.
		dst = appendPair(dst, e, "REDIRECT_STATUS", "200")
	}
	dst = appendPair(dst, e, "SERVER_PROTOCOL", g.Proto)
	if g.HTTPS {
		dst = appendPair(dst, e, "REQUEST_SCHEME", "https")
		dst = appendPair(dst, e, "HTTPS", "on")
	} else {
		dst = appendPair(dst, e, "REQUEST_SCHEME", "http")
	}
	dst = appendPair(dst, e, "REMOTE_ADDR", g.RemoteAddr)
	if g.RemotePort != "" {
		dst = appendPair(dst, e, "REMOTE_PORT", g.RemotePort)
	}
	dst = appendPair(dst, e, "SERVER_PORT", g.ServerPort)
	dst = appendPair(dst, e, "SERVER_NAME", serverName(req.Host))
	dst = appendPair(dst, e, "HTTP_HOST", req.Host)
	for name, values := range req.Header {
		switch name {
		case "Host", "Content-Type", "Content-Length", "Proxy":
			continue
		}
		if len(values) == 0 || !plainFieldName(name) || req.Skip != nil && req.Skip(name) {
			continue
		}
		sep := ", "
		if name == "Cookie" {
			sep = "; "
		}
		dst = appendHeaderPair(dst, e, name, values, "", sep)
	}
	for _, f := range req.Extra {
		dst = appendHeaderPair(dst, e, f.Name, nil, f.Value, "")
	}
	for _, p := range g.Params {
		dst = appendPair(dst, e, p.Name, p.Value)
	}
	return dst
}

// serverName is the host part of a Host header.
func serverName(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

func firstValue(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// plainFieldName reports whether a header field name has only letters,
// digits and '-', the names that map to one CGI variable each.
func plainFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return name != ""
}

// envNameLen is the length of the variable name of header field name.
func envNameLen(field string) int { return len("HTTP_") + len(field) }

// appendEnvName appends HTTP_ and field in upper case with '-' as '_'.
func appendEnvName(dst []byte, field string) []byte {
	dst = append(dst, "HTTP_"...)
	for i := 0; i < len(field); i++ {
		c := field[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// joinedLen is the length of values joined by sep.
func joinedLen(values []string, sep string) int {
	n := len(sep) * (len(values) - 1)
	for _, v := range values {
		n += len(v)
	}
	return n
}

// appendJoined appends values joined by sep.
func appendJoined(dst []byte, values []string, sep string) []byte {
	for i, v := range values {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = append(dst, v...)
	}
	return dst
}

// contentLengthVar is CONTENT_LENGTH for a request: its length when it
// has a body, none when it has none. A body of unknown length cannot be
// sent (the proxy buffers such bodies for these protocols).
func contentLengthVar(req *Request, none string) (string, error) {
	if !req.hasBody() {
		return none, nil
	}
	if req.ContentLength <= 0 {
		return "", errors.New("a request body sent over a CGI-style protocol needs a known length")
	}
	return strconv.FormatInt(req.ContentLength, 10), nil
}

// varBuffers recycles the buffers variables are encoded into.
type varBuffers struct{ pool sync.Pool }

// get returns an empty buffer.
func (v *varBuffers) get() *[]byte {
	if b, ok := v.pool.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// put recycles a buffer that is not too large to keep.
func (v *varBuffers) put(b *[]byte) {
	if cap(*b) <= 64<<10 {
		v.pool.Put(b)
	}
}

// readGatewayHead reads the head of a CGI-style response: either an
// HTTP/1.x status line and header fields (what uWSGI sends), or CGI
// header fields where a Status field, when present, gives the status
// (what php-fpm and SCGI servers send) and a Location without one means
// 302. The Status field is not passed on. Lines end in CRLF, strictly.
func readGatewayHead(br *bufio.Reader, dst http.Header) (*head, error) {
	start, err := br.Peek(5)
	if err != nil && len(start) == 0 {
		return nil, err
	}
	if string(start) == "HTTP/" {
		return readHead(br, dst)
	}
	raw, err := wire.ReadHead(br, MaxResponseHead, nil)
	if err != nil {
		var tl *wire.HeadTooLargeError
		if errors.As(err, &tl) {
			return nil, malformed("response head larger than %d bytes", MaxResponseHead)
		}
		if errors.Is(err, io.EOF) {
			return nil, malformed("response ended within its head")
		}
		return nil, err
	}
	// ReadHead lets empty lines lead; a CGI head starts with a field.
	if strings.HasPrefix(raw, "\r\n") || strings.HasPrefix(raw, "\n") {
		return nil, malformed("response head starts with an empty line")
	}
	h := &head{proto: "HTTP/1.1", major: 1, minor: 1, status: http.StatusOK}
	if h.header, err = parseFields(raw, dst); err != nil {
		return nil, err
	}
	if st, ok := h.header["Status"]; ok {
		delete(h.header, "Status")
		code, text, _ := strings.Cut(st[0], " ")
		if len(st) > 1 || len(code) != 3 || code[0] < '1' || code[0] > '5' || !isDigits(code) {
			return nil, malformed("invalid Status field %q", wire.Truncate([]byte(st[0])))
		}
		h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
		h.statusText = text
	} else if _, ok := h.header["Location"]; ok {
		h.status = http.StatusFound
	}
	if h.status/100 == 1 {
		return nil, malformed("interim status %d from a CGI-style upstream", h.status)
	}
	return h, nil
}
