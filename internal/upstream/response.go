package upstream

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/wire"
)

func malformed(format string, args ...any) error { return wire.Malformed(format, args...) }

// head is a parsed response head.
type head struct {
	proto      string
	major      int
	minor      int
	status     int
	statusText string
	header     http.Header
}

// MaxResponseHead bounds an upstream response's status line and header
// fields together: beyond it the response is refused (502) and the
// connection closed, so no upstream can push a huge head to a client.
const MaxResponseHead = 64 << 10

// readHead reads a status line and header section. Field values are
// substrings of one copy of the head; the fields go into dst when it is not
// nil (and the response is final), else into a new map.
func readHead(br *bufio.Reader, dst http.Header) (*head, error) {
	raw, err := wire.ReadHead(br, MaxResponseHead, nil)
	if err != nil {
		var tl *wire.HeadTooLargeError
		if errors.As(err, &tl) {
			return nil, malformed("response head larger than %d bytes", MaxResponseHead)
		}
		if errors.Is(err, io.EOF) && br.Buffered() > 0 {
			return nil, malformed("head cut short: %v", err)
		}
		return nil, err
	}
	line, rest, err := strictLine(raw)
	if err != nil {
		return nil, err
	}
	h := &head{}
	if err := parseStatusLine(line, h); err != nil {
		return nil, err
	}
	if dst == nil || h.status < 200 {
		dst = nil
	}
	if h.header, err = parseFields(rest, dst); err != nil {
		return nil, err
	}
	return h, nil
}

// parseFields parses the header fields of a head (after its first line,
// through the empty line) strictly into dst, or into a new map when dst is
// nil. Field values are substrings of rest.
func parseFields(rest string, dst http.Header) (http.Header, error) {
	n := strings.Count(rest, "\n")
	if n > wire.MaxFieldCount {
		return nil, malformed("more than %d header fields", wire.MaxFieldCount)
	}
	if dst == nil {
		dst = make(http.Header, n)
	}
	values := make([]string, n)
	for i := 0; ; i++ {
		line, next, err := strictLine(rest)
		if err != nil {
			return nil, err
		}
		rest = next
		if line == "" {
			return dst, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, malformed("obsolete line folding")
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !httpsyntax.IsToken(line[:colon]) {
			return nil, malformed("invalid header field %q", wire.Truncate([]byte(line)))
		}
		value := httpsyntax.TrimOWS(line[colon+1:])
		if !httpsyntax.ValidFieldValue(value) {
			return nil, malformed("invalid value in header %q", line[:colon])
		}
		key := textproto.CanonicalMIMEHeaderKey(line[:colon])
		if old, ok := dst[key]; ok {
			dst[key] = append(old, value)
		} else {
			values[i] = value
			dst[key] = values[i : i+1 : i+1]
		}
	}
}

// strictLine splits off the first CRLF-terminated line of s. A bare LF or
// a CR elsewhere is an error: the upstream's framing must be unambiguous.
func strictLine(s string) (line, rest string, err error) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", malformed("line not terminated by CRLF")
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", malformed("stray CR")
	}
	return line, s[i+1:], nil
}

func parseStatusLine(line string, h *head) error {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || len(rest) < 3 {
		return malformed("invalid status line %q", wire.Truncate([]byte(line)))
	}
	switch proto {
	case "HTTP/1.1":
		h.proto, h.major, h.minor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		h.proto, h.major, h.minor = "HTTP/1.0", 1, 0
	default:
		return malformed("unsupported protocol %q", wire.Truncate([]byte(proto)))
	}
	code, text, _ := strings.Cut(rest, " ")
	if len(code) != 3 || code[0] < '1' || code[0] > '5' || !isDigits(code) {
		return malformed("invalid status code %q", wire.Truncate([]byte(code)))
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if !httpsyntax.ValidFieldValue(text) {
		return malformed("invalid reason phrase")
	}
	h.statusText = text
	return nil
}

// framing is how a response body is delimited.
type framing struct {
	length  int64 // -1 when not known
	chunked bool
	toClose bool // read until the connection closes
}

// bodyFraming applies RFC 9112 section 6.3 to a response to method. A
// response carrying both Content-Length and Transfer-Encoding, or
// conflicting Content-Lengths, is refused rather than guessed at.
func bodyFraming(method string, h *head) (framing, error) {
	if method == http.MethodHead || h.status/100 == 1 || h.status == http.StatusNoContent || h.status == http.StatusNotModified {
		return framing{length: 0}, nil
	}
	te, hasTE := h.header["Transfer-Encoding"]
	cl, hasCL := h.header["Content-Length"]
	if hasTE && hasCL {
		return framing{}, malformed("both Content-Length and Transfer-Encoding")
	}
	if hasTE {
		if h.minor == 0 {
			return framing{}, malformed("Transfer-Encoding in an HTTP/1.0 response")
		}
		chunked, others := 0, 0
		httpsyntax.ForEachToken(te, func(t string) {
			if strings.EqualFold(t, "chunked") {
				chunked++
			} else {
				others++
			}
		})
		switch {
		case chunked == 1 && others == 0:
			return framing{length: -1, chunked: true}, nil
		case chunked > 0:
			return framing{}, malformed("transfer codings %q combine chunked with others", te)
		}
		// Other codings without chunked would run the body to the
		// close, which a server keeping the connection open never
		// sends: like nginx, refuse it rather than hang.
		return framing{}, malformed("unsupported transfer coding %q", te)
	}
	if hasCL {
		n := int64(-1)
		bad := false
		httpsyntax.ForEachToken(cl, func(part string) {
			if len(part) > 18 || !isDigits(part) {
				bad = true
				return
			}
			m, _ := strconv.ParseInt(part, 10, 64)
			if n >= 0 && m != n {
				bad = true
			}
			n = m
		})
		if bad || n < 0 {
			return framing{}, malformed("invalid or conflicting Content-Length %q", cl)
		}
		if len(cl) > 1 || len(cl[0]) != len(strconv.FormatInt(n, 10)) {
			h.header["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
		return framing{length: n}, nil
	}
	return framing{length: -1, toClose: true}, nil
}

func isDigits[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return len(b) > 0
}
