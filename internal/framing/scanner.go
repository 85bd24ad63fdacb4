// Package framing follows the byte stream of an HTTP/1.1 client connection
// and judges the framing of every request head on it, per RFC 9112.
//
// Go's net/http server accepts a few framings that let a request be read two
// ways: a request with both Content-Length and Transfer-Encoding is served
// from its chunked body and the bytes after it are served as a new request,
// obs-fold lines are joined, and Transfer-Encoding is ignored on HTTP/1.0.
// A CDN in front may read such bytes as one request where the server reads
// two. The Scanner sees the same bytes the server reads, in order, and gives
// one Verdict per request head; the server refuses a request whose verdict
// is bad and closes the connection.
package framing

import (
	"bytes"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// Verdict is the judgement on one request head: "" means acceptable,
// anything else is the reason for refusing it.
type Verdict string

// Reasons for refusing a request.
const (
	OK             Verdict = ""
	BothLengths    Verdict = "both Content-Length and Transfer-Encoding"
	BadLength      Verdict = "invalid Content-Length"
	BadCoding      Verdict = "Transfer-Encoding other than chunked"
	CodingOnHTTP10 Verdict = "Transfer-Encoding on an HTTP/1.0 request"
	ObsFold        Verdict = "obsolete line folding"
	BadHeader      Verdict = "malformed header field"
	BadRequestLine Verdict = "malformed request line"
	LostSync       Verdict = "connection framing lost after an earlier error"
)

// maxChunkLineLen bounds a chunk-size line including extensions.
const maxChunkLineLen = 4096

type state uint8

const (
	stHead        state = iota // reading a request head
	stBody                     // skipping a Content-Length body
	stChunkSize                // reading a chunk-size line
	stChunkData                // skipping chunk data
	stChunkCRLF                // expecting the CRLF after chunk data
	stTrailer                  // reading trailer lines
	stPassthrough              // upgraded or tunnelled: no more HTTP
	stPoisoned                 // an error made the framing unknowable
)

// Scanner judges the request heads of one connection. Feed it every byte
// read from the connection, in order; take verdicts with Next.
type Scanner struct {
	maxHead   int
	st        state
	line      []byte // partial line being assembled
	headLines int
	head      headInfo
	remaining int64 // bytes left in the body or current chunk
	crlfSeen  int
	verdicts  []entry
}

// entry is the verdict on one head plus its method and request-target, so
// that the server can check it is judging the request it is serving.
type entry struct {
	v      Verdict
	method string
	target string
}

// headInfo accumulates what matters about the head being read.
type headInfo struct {
	http10  bool
	clSeen  bool
	cl      int64
	te      []byte
	upgrade bool
	connect bool
	verdict Verdict
	method  string
	target  string
}

// NewScanner returns a scanner that refuses heads longer than maxHead bytes.
func NewScanner(maxHead int) *Scanner {
	return &Scanner{maxHead: maxHead}
}

// Next pops the verdict for the next request head, with that head's method
// and request-target. ok is false when the scanner has not seen a complete
// head; callers should treat that as a refusal, since the server only reads
// a request after its head arrived.
func (s *Scanner) Next() (v Verdict, method, target string, ok bool) {
	if len(s.verdicts) == 0 {
		if s.st == stPoisoned {
			return LostSync, "", "", true
		}
		return "", "", "", false
	}
	e := s.verdicts[0]
	s.verdicts = s.verdicts[1:]
	if len(s.verdicts) == 0 {
		s.verdicts = s.verdicts[:0:0]
	}
	return e.v, e.method, e.target, true
}

// Passthrough reports whether the scanner stopped judging because the
// connection was upgraded or tunnelled.
func (s *Scanner) Passthrough() bool { return s.st == stPassthrough }

// Feed consumes bytes read from the connection.
func (s *Scanner) Feed(p []byte) {
	for len(p) > 0 {
		switch s.st {
		case stPassthrough, stPoisoned:
			return
		case stBody, stChunkData:
			n := int64(len(p))
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			p = p[n:]
			if s.remaining == 0 {
				if s.st == stBody {
					s.st = stHead
				} else {
					s.st, s.crlfSeen = stChunkCRLF, 0
				}
			}
		case stChunkCRLF:
			c := p[0]
			p = p[1:]
			switch {
			case c == '\r' && s.crlfSeen == 0:
				s.crlfSeen = 1
			case c == '\n':
				s.st = stChunkSize
			default:
				s.poison()
			}
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.appendLine(p)
				return
			}
			if !s.appendLine(p[:i]) {
				return
			}
			p = p[i+1:]
			line := bytes.TrimSuffix(s.line, []byte{'\r'})
			s.line = s.line[:0]
			s.onLine(line)
		}
	}
}

// appendLine buffers part of a line, enforcing the size limits.
func (s *Scanner) appendLine(p []byte) bool {
	limit := maxChunkLineLen
	if s.st == stHead {
		limit = s.maxHead
	}
	if len(s.line)+len(p) > limit {
		s.poison()
		return false
	}
	s.line = append(s.line, p...)
	return true
}

func (s *Scanner) onLine(line []byte) {
	switch s.st {
	case stHead:
		s.onHeadLine(line)
	case stChunkSize:
		s.onChunkSize(line)
	case stTrailer:
		if len(line) == 0 {
			s.st = stHead
		}
	}
}

func (s *Scanner) onHeadLine(line []byte) {
	if s.headLines == 0 {
		if len(line) == 0 {
			return // tolerated empty lines between requests
		}
		s.head = headInfo{}
		s.headLines = 1
		s.requestLine(line)
		return
	}
	if len(line) == 0 {
		s.endHead()
		return
	}
	s.headLines++
	if line[0] == ' ' || line[0] == '\t' {
		s.head.fail(ObsFold)
		return
	}
	s.headerField(line)
}

func (h *headInfo) fail(v Verdict) {
	if h.verdict == OK {
		h.verdict = v
	}
}

func (s *Scanner) requestLine(line []byte) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || !httpsyntax.IsToken(method) {
		s.head.fail(BadRequestLine)
		return
	}
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		s.head.http10 = true
	default:
		s.head.fail(BadRequestLine)
	}
	s.head.connect = string(method) == "CONNECT"
	s.head.method, s.head.target = string(method), string(target)
}

func (s *Scanner) headerField(line []byte) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !httpsyntax.IsToken(line[:colon]) {
		s.head.fail(BadHeader)
		return
	}
	name, value := line[:colon], httpsyntax.TrimOWS(line[colon+1:])
	if !httpsyntax.ValidFieldValue(value) {
		s.head.fail(BadHeader)
		return
	}
	switch {
	case equalFold(name, "content-length"):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 || value[0] == '+' || (s.head.clSeen && n != s.head.cl) {
			s.head.fail(BadLength)
			return
		}
		s.head.clSeen, s.head.cl = true, n
	case equalFold(name, "transfer-encoding"):
		if len(s.head.te) > 0 {
			s.head.te = append(s.head.te, ',')
		}
		s.head.te = append(s.head.te, value...)
	case equalFold(name, "upgrade"):
		s.head.upgrade = true
	}
}

// endHead records the verdict for a complete head and sets up body skipping.
func (s *Scanner) endHead() {
	h := &s.head
	s.headLines = 0
	chunked := false
	if len(h.te) > 0 {
		switch {
		case h.http10:
			h.fail(CodingOnHTTP10)
		case h.clSeen:
			h.fail(BothLengths)
		case !equalFold(httpsyntax.TrimOWS(h.te), "chunked"):
			h.fail(BadCoding)
		default:
			chunked = true
		}
	}
	s.verdicts = append(s.verdicts, entry{h.verdict, h.method, h.target})
	switch {
	case h.verdict != OK:
		// The server refuses this request and closes; what follows has
		// no known framing.
		s.st = stPoisoned
	case h.upgrade || h.connect:
		s.st = stPassthrough
	case chunked:
		s.st = stChunkSize
	case h.cl > 0:
		s.st, s.remaining = stBody, h.cl
	}
}

func (s *Scanner) onChunkSize(line []byte) {
	size, _, _ := bytes.Cut(line, []byte{';'})
	size = httpsyntax.TrimOWS(size)
	if len(size) == 0 || len(size) > 15 {
		s.poison()
		return
	}
	var n int64
	for _, c := range size {
		d := unhex(c)
		if d < 0 {
			s.poison()
			return
		}
		n = n<<4 | int64(d)
	}
	if n == 0 {
		s.st = stTrailer
		return
	}
	s.st, s.remaining = stChunkData, n
}

// poison stops judging: the framing of the rest of the stream is unknown,
// so every later head is refused.
func (s *Scanner) poison() {
	s.st = stPoisoned
	s.line = nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
