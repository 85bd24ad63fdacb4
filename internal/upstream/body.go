package upstream

import (
	"bufio"
	"errors"
	"io"
	"net/http"
)

// chunkedReader decodes a chunked body strictly: hex sizes, CRLF after every
// chunk, bounded size lines and trailers.
type chunkedReader struct {
	br      *bufio.Reader
	left    int64 // bytes left in the current chunk
	done    bool
	err     error
	trailer http.Header
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && c.left == 0 {
		err = c.chunkEnd()
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// chunkEnd consumes the CRLF after a chunk's data.
func (c *chunkedReader) chunkEnd() error {
	cr, err1 := c.br.ReadByte()
	lf, err2 := c.br.ReadByte()
	if err1 != nil || err2 != nil {
		return io.ErrUnexpectedEOF
	}
	if cr != '\r' || lf != '\n' {
		return malformed("chunk data not followed by CRLF")
	}
	return nil
}

func (c *chunkedReader) nextChunk() error {
	budget := maxHeaderBytes
	line, err := readLine(c.br, &budget)
	if err != nil {
		if !errors.Is(err, errMalformed) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	size := line
	for i, ch := range line {
		if ch == ';' || ch == ' ' || ch == '\t' {
			size = line[:i]
			break
		}
	}
	if len(size) == 0 || len(size) > 15 {
		return malformed("invalid chunk size %q", truncate(line))
	}
	var n int64
	for _, ch := range size {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return malformed("invalid chunk size %q", truncate(line))
		}
		n = n<<4 | int64(d)
	}
	if n > 0 {
		c.left = n
		return nil
	}
	// Last chunk: trailer fields until an empty line.
	count := 0
	for {
		line, err := readLine(c.br, &budget)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			c.done = true
			return nil
		}
		if count++; count > maxHeaderCount {
			return malformed("too many trailer fields")
		}
		if err := addField(c.trailer, line); err != nil {
			return err
		}
	}
}

// lengthReader reads exactly n bytes; fewer is an unexpected EOF.
type lengthReader struct {
	br   *bufio.Reader
	left int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.br.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && l.left == 0 {
		err = io.EOF
	}
	return n, err
}
