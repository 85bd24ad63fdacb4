package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// ChunkedReader decodes a chunked body strictly: hex sizes, CRLF after every
// chunk, bounded size lines and trailers. Trailer fields go to Trailer when
// it is not nil, and are otherwise checked and dropped.
type ChunkedReader struct {
	br      *bufio.Reader
	left    int64 // bytes left in the current chunk
	done    bool
	err     error
	trailer http.Header
}

// NewChunkedReader returns a reader of the chunked body that follows in br.
func NewChunkedReader(br *bufio.Reader, trailer http.Header) *ChunkedReader {
	return &ChunkedReader{br: br, trailer: trailer}
}

// Done reports whether the whole body, trailers included, has been read.
func (c *ChunkedReader) Done() bool { return c.done }

func (c *ChunkedReader) Read(p []byte) (int, error) {
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
func (c *ChunkedReader) chunkEnd() error {
	cr, err := c.br.ReadByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	lf, err := c.br.ReadByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	if cr != '\r' || lf != '\n' {
		return Malformed("chunk data not followed by CRLF")
	}
	return nil
}

// eofIsUnexpected turns an EOF in the middle of a body into
// io.ErrUnexpectedEOF and keeps other errors (timeouts) as they are.
func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *ChunkedReader) nextChunk() error {
	budget := MaxHeadBytes
	line, err := ReadLine(c.br, &budget)
	if err != nil {
		return eofIsUnexpected(err)
	}
	// chunk-size [ ";" chunk-ext ] with trailing whitespace allowed.
	// Anything else after the size (a second number, or whitespace
	// before the ";" that Go's and other decoders refuse) is refused,
	// since another parser might read the size differently.
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	size, ext := line, []byte(nil)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		size, ext = line[:i], line[i:]
	}
	if len(ext) > 0 && !httpsyntax.ValidFieldValue(ext) {
		return Malformed("invalid chunk extension %q", Truncate(line))
	}
	if len(size) == 0 || len(size) > 15 {
		return Malformed("invalid chunk size %q", Truncate(line))
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
			return Malformed("invalid chunk size %q", Truncate(line))
		}
		n = n<<4 | int64(d)
	}
	if n > 0 {
		c.left = n
		return nil
	}
	// Last chunk: trailer fields until an empty line.
	count := 0
	trailer := c.trailer
	if trailer == nil {
		trailer = http.Header{}
	}
	for {
		line, err := ReadLine(c.br, &budget)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				return eofIsUnexpected(err)
			}
			return err
		}
		if len(line) == 0 {
			c.done = true
			return nil
		}
		if count++; count > MaxFieldCount {
			return Malformed("too many trailer fields")
		}
		if err := AddField(trailer, line); err != nil {
			return err
		}
	}
}

// LengthReader reads exactly the declared number of bytes; fewer is an
// unexpected EOF.
type LengthReader struct {
	br   *bufio.Reader
	left int64
}

// NewLengthReader returns a reader of the n-byte body that follows in br.
func NewLengthReader(br *bufio.Reader, n int64) *LengthReader {
	return &LengthReader{br: br, left: n}
}

// Left is the number of body bytes not read yet.
func (l *LengthReader) Left() int64 { return l.left }

func (l *LengthReader) Read(p []byte) (int, error) {
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
