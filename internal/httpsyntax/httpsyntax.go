// Package httpsyntax holds the RFC 9110 syntax checks that Gatehouse's own
// HTTP parsers share: tokens, field values, optional whitespace.
package httpsyntax

import (
	"net/textproto"
	"net/url"
	"strings"
)

// IsToken reports whether b is a non-empty token (a valid field name or
// method).
func IsToken[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
			return false
		}
	}
	return len(b) > 0
}

// ValidFieldValue reports whether b has no control characters other than
// horizontal tab.
func ValidFieldValue[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS removes leading and trailing spaces and tabs.
func TrimOWS[T string | []byte](b T) T {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ForEachToken calls f with each non-empty element of comma-separated
// header values, trimmed of optional whitespace.
func ForEachToken(values []string, f func(string)) {
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if tok = TrimOWS(tok); tok != "" {
				f(tok)
			}
		}
	}
}

// RequestURL parses a request-target in origin or absolute form (not
// empty). The common origin-form without escapes is split by hand;
// everything else goes through url.ParseRequestURI.
func RequestURL(target string) (*url.URL, error) {
	if target[0] == '/' && strings.IndexByte(target, '%') < 0 && strings.IndexByte(target, '#') < 0 {
		path, query, hasQuery := strings.Cut(target, "?")
		return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}, nil
	}
	return url.ParseRequestURI(target)
}

// AppendFieldNames appends the canonical field names listed in the
// comma-separated values of a field such as Trailer.
func AppendFieldNames(dst []string, values []string) []string {
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			if name = TrimOWS(name); name != "" {
				dst = append(dst, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	return dst
}
