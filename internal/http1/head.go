package http1

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// head is what one request head says. Strings are substrings of the copy
// of the head made when it was read, so parsing allocates little.
type head struct {
	method, target, proto string
	minor                 int
	header                http.Header
	host                  string
	contentLength         int64 // -1 when the body is chunked
	chunked               bool
	close                 bool // the client asked to close after the response
	expectContinue        bool
}

// Refusal describes a request head Gatehouse answered with an error itself,
// without passing it to the handler: its framing or syntax cannot be
// trusted. Method and Target are empty when the request line was unreadable.
type Refusal struct {
	RemoteAddr string
	Method     string
	Target     string
	Proto      string
	Status     int
	Reason     string
}

// headError is a head that must be refused with status.
type headError struct {
	status int
	reason string
}

func (e *headError) Error() string { return e.reason }

func refuse(status int, reason string) *headError { return &headError{status, reason} }

// parseHead parses a complete request head (request line, fields, the empty
// line) per RFC 9112. A bare LF ends a line like CRLF; a CR anywhere else,
// obs-fold, and every ambiguous framing are refused.
func parseHead(raw string, h *head) *headError {
	// Empty lines before the request line are tolerated (RFC 9112 §2.2).
	for len(raw) > 0 && (raw[0] == '\r' || raw[0] == '\n') {
		raw = raw[1:]
	}
	line, rest, err := nextLine(raw)
	if err != nil {
		return err
	}
	if err := parseRequestLine(line, h); err != nil {
		return err
	}
	h.contentLength = 0
	// One backing array holds every field value; each key gets a slice of
	// it with its capacity capped, so a handler's append copies.
	values := make([]string, strings.Count(rest, "\n"))
	h.header = make(http.Header, len(values))
	hosts := 0
	clSeen := false
	for i := 0; ; i++ {
		line, rest, err = nextLine(rest)
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return refuse(http.StatusBadRequest, "obsolete line folding")
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !httpsyntax.IsToken(line[:colon]) {
			return refuse(http.StatusBadRequest, "malformed header field")
		}
		value := httpsyntax.TrimOWS(line[colon+1:])
		if !httpsyntax.ValidFieldValue(value) {
			return refuse(http.StatusBadRequest, "control character in a header value")
		}
		key := textproto.CanonicalMIMEHeaderKey(line[:colon])
		if old, ok := h.header[key]; ok {
			h.header[key] = append(old, value)
		} else {
			values[i] = value
			h.header[key] = values[i : i+1 : i+1]
		}
		switch key {
		case "Host":
			hosts++
			h.host = value
		case "Content-Length":
			n, ok := parseContentLength(value)
			if !ok || (clSeen && n != h.contentLength) {
				return refuse(http.StatusBadRequest, "invalid Content-Length")
			}
			clSeen, h.contentLength = true, n
		case "Expect":
			if !strings.EqualFold(value, "100-continue") {
				return refuse(http.StatusExpectationFailed, "unsupported Expect")
			}
			h.expectContinue = true
		}
	}
	if clSeen {
		// Duplicates were identical; the upstream sees one.
		h.header["Content-Length"] = h.header["Content-Length"][:1]
	}
	if te := h.header["Transfer-Encoding"]; len(te) > 0 {
		switch {
		case h.minor == 0:
			return refuse(http.StatusBadRequest, "Transfer-Encoding on an HTTP/1.0 request")
		case clSeen:
			return refuse(http.StatusBadRequest, "both Content-Length and Transfer-Encoding")
		case len(te) != 1 || !strings.EqualFold(te[0], "chunked"):
			return refuse(http.StatusNotImplemented, "Transfer-Encoding other than chunked")
		}
		h.chunked, h.contentLength = true, -1
	}
	switch {
	case hosts > 1:
		return refuse(http.StatusBadRequest, "more than one Host")
	case hosts == 0 && h.minor == 1:
		return refuse(http.StatusBadRequest, "no Host")
	case !validHost(h.host):
		return refuse(http.StatusBadRequest, "invalid Host")
	}
	h.close = wantsClose(h.minor, h.header["Connection"])
	return nil
}

// nextLine splits off the first line of s; its terminator is LF or CRLF.
func nextLine(s string) (line, rest string, err *headError) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return "", "", refuse(http.StatusBadRequest, "head cut short")
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", refuse(http.StatusBadRequest, "stray CR")
	}
	return line, rest, nil
}

func parseRequestLine(line string, h *head) *headError {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !httpsyntax.IsToken(method) || !validTarget(target) {
		return refuse(http.StatusBadRequest, "malformed request line")
	}
	h.method, h.target, h.proto = method, target, proto
	switch proto {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
	default:
		if len(proto) == 8 && strings.HasPrefix(proto, "HTTP/") && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
			return refuse(http.StatusHTTPVersionNotSupported, "unsupported HTTP version")
		}
		return refuse(http.StatusBadRequest, "malformed request line")
	}
	return nil
}

// validTarget accepts any non-empty request-target without controls or
// spaces; its finer syntax is checked when it is parsed as a URL.
func validTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return t != ""
}

func parseContentLength(v string) (int64, bool) {
	// A list of identical values ("5, 5") counts as one.
	first, rest, more := strings.Cut(v, ",")
	first = httpsyntax.TrimOWS(first)
	if first == "" || len(first) > 18 {
		return 0, false
	}
	for i := 0; i < len(first); i++ {
		if !isDigit(first[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, false
	}
	if more {
		m, ok := parseContentLength(rest)
		if !ok || m != n {
			return 0, false
		}
	}
	return n, true
}

// wantsClose applies the Connection header: HTTP/1.1 persists unless
// "close"; HTTP/1.0 closes unless "keep-alive".
func wantsClose(minor int, values []string) bool {
	closeSeen, keepAlive := false, false
	httpsyntax.ForEachToken(values, func(t string) {
		closeSeen = closeSeen || strings.EqualFold(t, "close")
		keepAlive = keepAlive || strings.EqualFold(t, "keep-alive")
	})
	return closeSeen || minor == 0 && !keepAlive
}

// validHost accepts the bytes net/http accepts in a Host header:
// reg-name, IPv4, bracketed IPv6 and a port.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:[]%@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
