package wire

import (
	"bufio"
	"bytes"
)

// HeadTooLargeError is returned by ReadHead for a head over its limit.
// LineDone tells whether at least the first line ended within the limit.
type HeadTooLargeError struct{ LineDone bool }

func (e *HeadTooLargeError) Error() string { return "message head too large" }

// ReadHead reads a message head from br, through the empty line that ends
// it, and returns it as one string: the single copy the parsers slice their
// fields from. Empty lines before the first line are included. more, when
// not nil, is called once before the first read that has to wait for more
// bytes. Reading stops with *HeadTooLargeError beyond limit bytes.
func ReadHead(br *bufio.Reader, limit int, more func()) (string, error) {
	var acc []byte // the head so far, once it outgrew the read buffer
	var scan headScanner
	for {
		buf, _ := br.Peek(br.Buffered())
		all := buf
		if acc != nil {
			all = append(acc, buf...)
		}
		if end := scan.end(all); end >= 0 {
			if end > limit {
				return "", tooLarge(all, limit)
			}
			head := string(all[:end])
			_, _ = br.Discard(end - len(acc))
			return head, nil
		}
		if len(all) > limit {
			return "", tooLarge(all, limit)
		}
		if acc != nil || len(buf) == br.Size() {
			if acc == nil {
				all = append([]byte(nil), all...) // buf is br's own memory
			}
			acc = all
			_, _ = br.Discard(len(buf))
		}
		if more != nil {
			more()
			more = nil
		}
		var err error
		if acc != nil {
			_, err = br.Peek(1)
		} else {
			_, err = br.Peek(len(buf) + 1)
		}
		if err != nil {
			return "", err
		}
	}
}

func tooLarge(b []byte, limit int) error {
	b = bytes.TrimLeft(b, "\r\n")
	i := bytes.IndexByte(b, '\n')
	return &HeadTooLargeError{LineDone: i >= 0 && i <= limit}
}

// HeadEnd returns the length of the head at the start of b, through the
// empty line that ends it, or -1 when b holds no complete head. Lines end
// in LF or CRLF; empty lines before the first line do not end the head.
func HeadEnd(b []byte) int {
	var s headScanner
	return s.end(b)
}

// headScanner finds the end of a head that arrives in pieces without
// scanning the same bytes twice, so a head trickled a byte at a time
// costs time linear in its size.
type headScanner struct {
	pos     int  // where the next scan resumes: the start of a line
	started bool // the empty lines before the first line are behind
}

// end is HeadEnd for b, which must extend the b of the previous call.
func (s *headScanner) end(b []byte) int {
	i := s.pos
	if !s.started {
		for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) {
			s.pos = i
			return -1
		}
		s.started = true
	}
	for {
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			s.pos = i
			return -1
		}
		i += j + 1
	}
}
