package h2

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// errMalformed is a request the RFC calls malformed (RFC 9113 8.1.1):
// its stream is reset with PROTOCOL_ERROR.
var errMalformed = errors.New("h2: malformed request")

// newRequest builds the http.Request of a stream from its header block.
// The framer has checked the field names (lowercase tokens), the values,
// and that pseudo-header fields are known, not repeated and first.
func (c *conn) newRequest(s *stream, f *http2.MetaHeadersFrame) (*http.Request, error) {
	var method, scheme, authority, path, protocol string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		case ":protocol":
			protocol = hf.Value
		default:
			return nil, errMalformed // :status in a request
		}
	}
	if !httpsyntax.IsToken(method) {
		return nil, errMalformed
	}
	tunnel := method == http.MethodConnect && protocol == ""
	switch {
	case protocol != "" && (method != http.MethodConnect || !c.opts.ExtendedConnect):
		return nil, errMalformed
	case tunnel:
		if scheme != "" || path != "" || authority == "" {
			return nil, errMalformed
		}
	case scheme == "" || path == "":
		return nil, errMalformed
	case path[0] != '/' && (path != "*" || method != http.MethodOptions):
		return nil, errMalformed
	}

	regular := f.RegularFields()
	header := make(http.Header, len(regular)+1)
	var host string
	var cookies []string
	for _, hf := range regular {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, errMalformed // connection-specific (RFC 9113 8.2.2)
		case "te":
			if hf.Value != "trailers" {
				return nil, errMalformed
			}
		case "host":
			if host != "" {
				return nil, errMalformed
			}
			host = hf.Value
			continue
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		case "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || hf.Value[0] == '+' || (s.declared >= 0 && n != s.declared) {
				return nil, errMalformed
			}
			s.declared = n
		}
		k := canonicalName(hf.Name)
		header[k] = append(header[k], hf.Value)
	}
	switch {
	case authority == "":
		authority = host
	case host != "" && !strings.EqualFold(host, authority):
		return nil, errMalformed // two different targets: a smuggling attempt
	}
	if !httpguts.ValidHostHeader(authority) {
		return nil, errMalformed
	}
	if len(cookies) > 0 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if v := header["Expect"]; len(v) == 1 && strings.EqualFold(v[0], "100-continue") {
		s.expectContinue = true
	}

	var u *url.URL
	var err error
	target := path
	if tunnel {
		u, target = &url.URL{Host: authority}, authority
	} else if u, err = httpsyntax.RequestURL(path); err != nil {
		return nil, errMalformed
	}
	if protocol != "" {
		header[":protocol"] = []string{protocol} // where net/http puts it
	}
	r := (&http.Request{}).WithContext(s.ctx) // one allocation, not two
	r.Method, r.URL, r.Proto, r.ProtoMajor = method, u, "HTTP/2.0", 2
	r.Header, r.Host, r.RemoteAddr, r.RequestURI, r.TLS = header, authority, c.remote, target, c.tls
	switch {
	case f.StreamEnded():
		if s.declared > 0 {
			return nil, errMalformed
		}
		r.Body = http.NoBody
	default:
		r.Body = body{s}
		r.ContentLength = s.declared
	}
	if vs := header["Trailer"]; len(vs) > 0 {
		r.Trailer = http.Header{}
		for _, k := range httpsyntax.AppendFieldNames(nil, vs) {
			r.Trailer[k] = nil
		}
	}
	return r, nil
}

// canonicalName turns a lowercase HTTP/2 field name into net/http's form
// of the key; common names come without an allocation.
func canonicalName(name string) string {
	if k, ok := commonCanonical[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
