package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// UpstreamURL is an upstream server's URL, parsed once at validation:
// the protocol spoken and where to connect.
type UpstreamURL struct {
	// Scheme is the protocol: http, https, h2c, uwsgi, scgi, fastcgi,
	// grpc (HTTP/2 without TLS) or grpcs (HTTP/2 over TLS).
	Scheme string
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp, the socket's path for unix.
	Address string
}

// String is the URL in its canonical form: scheme://host:port or
// scheme://unix:/path.
func (u UpstreamURL) String() string {
	if u.Network == "unix" {
		return u.Scheme + "://unix:" + u.Address
	}
	return u.Scheme + "://" + u.Address
}

// Host is the host name or IP address of a TCP server, "" for a unix
// socket.
func (u UpstreamURL) Host() string {
	if u.Network == "unix" {
		return ""
	}
	host, _, _ := net.SplitHostPort(u.Address)
	return host
}

// upstreamScheme describes what an upstream URL scheme allows.
type upstreamScheme struct {
	defaultPort string // "" when the URL must name a port
	unix        bool   // unix sockets allowed
}

// upstreamSchemes are the protocols Gatehouse speaks to upstreams.
var upstreamSchemes = map[string]upstreamScheme{
	"http":    {"80", true},
	"https":   {"443", false},
	"h2c":     {"80", false},
	"uwsgi":   {"", true},
	"scgi":    {"", true},
	"fastcgi": {"", true},
	"grpc":    {"80", false},
	"grpcs":   {"443", false},
}

// upstreamExamples is shown when an upstream URL cannot be read.
const upstreamExamples = "http://127.0.0.1:8000, http://unix:/run/app.sock, uwsgi://127.0.0.1:3031, fastcgi://unix:/run/php/php-fpm.sock, grpc://127.0.0.1:50051"

// ParseUpstreamURL parses an upstream server URL: scheme://host:port with
// one of the schemes of upstreamSchemes, or scheme://unix:/path/to.sock
// (also http+unix:///path/to.sock) for a unix socket. No path, query or
// credentials. A missing port is the scheme's default (80, or 443 over
// TLS); uwsgi, scgi and fastcgi have none and need one.
func ParseUpstreamURL(s string) (UpstreamURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return UpstreamURL{}, fmt.Errorf("upstream %q: want a URL such as %s", s, upstreamExamples)
	}
	if scheme == "http+unix" {
		path := rest
		if !strings.HasPrefix(path, "/") {
			// http+unix://%2Frun%2Fapp.sock: the path percent-encoded
			// in the host part.
			host, _, _ := strings.Cut(rest, "/")
			var err error
			if path, err = url.PathUnescape(host); err != nil {
				return UpstreamURL{}, fmt.Errorf("upstream %q: %v", s, err)
			}
		}
		return unixUpstream(s, "http", path)
	}
	spec, known := upstreamSchemes[scheme]
	if !known {
		return UpstreamURL{}, fmt.Errorf("upstream %q: scheme %q is not supported (want http, https, h2c, uwsgi, scgi, fastcgi, grpc or grpcs)", s, scheme)
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		if !spec.unix {
			return UpstreamURL{}, fmt.Errorf("upstream %q: unix sockets are supported for http, uwsgi, scgi and fastcgi upstreams", s)
		}
		return unixUpstream(s, scheme, path)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return UpstreamURL{}, fmt.Errorf("upstream %q: want a URL such as %s", s, upstreamExamples)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return UpstreamURL{}, fmt.Errorf("upstream %q: only scheme://host:port is allowed (use rewrite to change paths)", s)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		if spec.defaultPort == "" {
			return UpstreamURL{}, fmt.Errorf("upstream %q: %s needs a port, e.g. %s://127.0.0.1:3031", s, scheme, scheme)
		}
		port = spec.defaultPort
	}
	return UpstreamURL{Scheme: scheme, Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}

func unixUpstream(s, scheme, path string) (UpstreamURL, error) {
	if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
		return UpstreamURL{}, fmt.Errorf("upstream %q: want an absolute socket path, e.g. %s://unix:/run/app.sock", s, scheme)
	}
	return UpstreamURL{Scheme: scheme, Network: "unix", Address: filepath.Clean(path)}, nil
}

// Protocol is the protocol family of a scheme: "http" for http, https and
// h2c (and the unix forms), "grpc" for grpc and grpcs, else the scheme.
func Protocol(scheme string) string {
	switch scheme {
	case "http", "https", "h2c":
		return "http"
	case "grpc", "grpcs":
		return "grpc"
	}
	return scheme
}
