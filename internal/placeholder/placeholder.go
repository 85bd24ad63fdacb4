// Package placeholder parses and fills in header values with placeholders
// such as {client_ip} and {request_id}; "{{" and "}}" stand for braces.
package placeholder

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// placeholders are the names usable in header values.
var placeholders = map[string]func(*http.Request, *reqinfo.Info) string{
	"client_ip":  func(_ *http.Request, i *reqinfo.Info) string { return i.ClientIP },
	"request_id": func(_ *http.Request, i *reqinfo.Info) string { return i.ID },
	"scheme":     func(_ *http.Request, i *reqinfo.Info) string { return i.Scheme },
	"host":       func(r *http.Request, _ *reqinfo.Info) string { return hostname(r.Host) },
	"method":     func(r *http.Request, _ *reqinfo.Info) string { return r.Method },
	"path":       func(r *http.Request, _ *reqinfo.Info) string { return r.URL.Path },
	"uri":        func(r *http.Request, _ *reqinfo.Info) string { return r.URL.RequestURI() },
	"query":      func(r *http.Request, _ *reqinfo.Info) string { return r.URL.RawQuery },
}

// hostname is the request's host as nginx's $host: without the port, in
// lower case ("[::1]" keeps its brackets).
func hostname(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			host = host[:end+1]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.ToLower(host)
}

// lookup finds a placeholder: a fixed name, or header.NAME, cookie.NAME
// and query.NAME (a request header field, cookie or query argument; ""
// when absent).
func lookup(name string) (func(*http.Request, *reqinfo.Info) string, bool) {
	if f, ok := placeholders[name]; ok {
		return f, true
	}
	kind, arg, ok := strings.Cut(name, ".")
	if !ok || arg == "" {
		return nil, false
	}
	switch kind {
	case "header":
		key := http.CanonicalHeaderKey(arg)
		return func(r *http.Request, _ *reqinfo.Info) string {
			if v := r.Header[key]; len(v) > 0 {
				return v[0]
			}
			return ""
		}, true
	case "cookie":
		return func(r *http.Request, _ *reqinfo.Info) string {
			if c, err := r.Cookie(arg); err == nil {
				return c.Value
			}
			return ""
		}, true
	case "query":
		return func(r *http.Request, _ *reqinfo.Info) string { return r.URL.Query().Get(arg) }, true
	}
	return nil, false
}

// Empty reports whether every placeholder of the value renders empty for
// the request (and there is no literal text): a key that names nothing.
func (v Value) Empty(r *http.Request, info *reqinfo.Info) bool {
	for _, l := range v.lits {
		if l != "" {
			return false
		}
	}
	for _, f := range v.funcs {
		if f(r, info) != "" {
			return false
		}
	}
	return true
}

// Value is a header value with placeholders.
type Value struct {
	lits  []string // len(lits) == len(funcs)+1
	funcs []func(*http.Request, *reqinfo.Info) string
}

// Parse parses "text {placeholder} text"; "{{" and "}}" stand for
// braces.
func Parse(s string) (Value, error) {
	var v Value
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return Value{}, fmt.Errorf("%q: { without a closing } (write {{ for a brace)", s)
			}
			name := s[i+1 : i+end]
			f, ok := lookup(name)
			if !ok {
				return Value{}, fmt.Errorf("%q: unknown placeholder {%s} (known: client_ip, request_id, scheme, host, method, path, uri, query, header.NAME, cookie.NAME, query.NAME)", s, name)
			}
			v.lits = append(v.lits, lit.String())
			lit.Reset()
			v.funcs = append(v.funcs, f)
			i += end
		case c == '}':
			return Value{}, fmt.Errorf("%q: } without an opening { (write }} for a brace)", s)
		case c == '\r' || c == '\n' || c == 0:
			return Value{}, fmt.Errorf("%q: control characters are not allowed in header values", s)
		default:
			lit.WriteByte(c)
		}
	}
	v.lits = append(v.lits, lit.String())
	return v, nil
}

// Render fills the value in for one request. Placeholder values that
// would break a header (a Host with a newline cannot reach here, but be
// safe) are cut at the first control character.
func (v Value) Render(r *http.Request, info *reqinfo.Info) string {
	if len(v.funcs) == 0 {
		return v.lits[0]
	}
	if len(v.funcs) == 1 && v.lits[0] == "" && v.lits[1] == "" {
		// One placeholder alone: its value as it is.
		s := v.funcs[0](r, info)
		if j := strings.IndexAny(s, "\r\n\x00"); j >= 0 {
			s = s[:j]
		}
		return s
	}
	var b strings.Builder
	for i, f := range v.funcs {
		b.WriteString(v.lits[i])
		s := f(r, info)
		if j := strings.IndexAny(s, "\r\n\x00"); j >= 0 {
			s = s[:j]
		}
		b.WriteString(s)
	}
	b.WriteString(v.lits[len(v.lits)-1])
	return b.String()
}
