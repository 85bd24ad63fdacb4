package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// FastCGIOptions configure a FastCGI client: where scripts live on the
// FastCGI server and how a request path names one.
type FastCGIOptions struct {
	// Root is the document root: SCRIPT_FILENAME is Root plus the
	// script's path, DOCUMENT_ROOT is Root.
	Root string
	// Index is appended to paths that end in "/".
	Index string
	// Split, when set, splits a path into the script's path and
	// PATH_INFO (its two groups).
	Split *regexp.Regexp
	// Stderr receives what the application writes to its error stream,
	// one record at a time; it never reaches the response.
	Stderr func(ctx context.Context, msg string)
	// KeepConn keeps connections open for further requests
	// (FCGI_KEEP_CONN). A php-fpm worker serves one connection at a time
	// and waits on an idle kept one, so this is for servers with at least
	// as many workers as requests Gatehouse sends them at once; by
	// default each request has a connection of its own, as with nginx.
	KeepConn bool
}

// FastCGI is a client for the FastCGI responder role (php-fpm and the
// like): one request at a time per connection (request ID 1, no
// multiplexing), connections kept for further requests with KeepConn
// (FCGI_KEEP_CONN); the variables go as PARAMS records and the body as
// STDIN records; the STDOUT stream carries a CGI response, STDERR records
// are handed to the error log, and END_REQUEST ends the exchange.
type FastCGI struct {
	base    *Client
	opt     FastCGIOptions
	bufs    varBuffers
	readers sync.Pool // *bufio.Reader over a stdout stream
}

// FastCGI record types.
const (
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParams       = 4
	fcgiStdin        = 5
	fcgiStdout       = 6
	fcgiStderr       = 7
)

// fcgiRequestID is the ID of every request: one at a time per connection.
const fcgiRequestID = 1

// fcgiMaxContent is the most content one record carries.
const fcgiMaxContent = 1<<16 - 1

// NewFastCGI returns a FastCGI client with opt's timeouts and keep-alive.
func NewFastCGI(opt Options, fo FastCGIOptions) *FastCGI {
	fo.Root = strings.TrimRight(fo.Root, "/")
	f := &FastCGI{base: New(opt), opt: fo}
	f.readers.New = func() any { return bufio.NewReaderSize(nil, connBufferSize) }
	return f
}

// CloseIdleConnections closes the idle connections.
func (f *FastCGI) CloseIdleConnections() { f.base.CloseIdleConnections() }

// CloseIdleConnectionsTo closes the idle connections to addr.
func (f *FastCGI) CloseIdleConnectionsTo(addr Addr) { f.base.CloseIdleConnectionsTo(addr) }

// Do sends req to addr and reads the response head, like Client.Do.
func (f *FastCGI) Do(ctx context.Context, addr Addr, req *Request) (*http.Response, error) {
	return f.base.conns.send(ctx, addr, req, f.opt.KeepConn, f)
}

// script maps a request path to the script that serves it: the path
// cleaned (no segment can climb out of the root), the index for a path
// ending in "/", then split into the script and PATH_INFO.
func (f *FastCGI) script(p string) (scriptVars, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return scriptVars{}, errors.New("a NUL byte in the path")
	}
	uri := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") {
		uri = strings.TrimSuffix(uri, "/") + "/" + f.opt.Index
	}
	name, info := uri, ""
	if f.opt.Split != nil {
		if m := f.opt.Split.FindStringSubmatch(uri); m != nil {
			name, info = m[1], m[2]
		}
	}
	return scriptVars{
		fastCGI: true, scriptName: name, pathInfo: info, documentURI: uri,
		scriptFilename: f.opt.Root + name, documentRoot: f.opt.Root,
	}, nil
}

// exchange writes req on pc and reads the response head.
func (f *FastCGI) exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error) {
	sv, err := f.script(req.Gateway.Path)
	if err != nil {
		return nil, err
	}
	stop := afterCancel(ctx, pc.onCancel)
	paced := paceSend(pc, req, f.base.opt.BodyIdleTimeout)
	err = f.write(pc.bw, req, sv)
	if paced {
		endPace(pc)
	}
	if err != nil {
		stop()
		var se *SourceError
		if errors.As(err, &se) {
			return nil, err
		}
		if pc.reused && isPeerClosed(err) {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		return nil, fmt.Errorf("write request: %w", err)
	}
	o := &f.base.opt
	if o.ResponseHeaderTimeout > 0 {
		pc.setReadDeadline(time.Now(), o.ResponseHeaderTimeout)
	} else if pc.reused {
		pc.setReadDeadline(time.Time{}, 0)
	}
	stdout := &fcgiReader{br: pc.br, stderr: f.opt.Stderr, ctx: ctx}
	br := f.readers.Get().(*bufio.Reader)
	br.Reset(stdout)
	h, err := readGatewayHead(br, req.Into)
	if err != nil {
		stop()
		f.recycle(br)
		if pc.reused && isPeerClosed(err) && !stdout.started {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
			return nil, timeoutError{"timeout awaiting upstream response headers"}
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	f.base.bodyDeadline(pc, h.status)
	res := &http.Response{
		StatusCode: h.status, Proto: h.proto, ProtoMajor: h.major, ProtoMinor: h.minor,
		Header: h.header, ContentLength: -1,
	}
	// The records frame the body: a coding the application names is not
	// how it reaches Gatehouse.
	delete(res.Header, "Transfer-Encoding")
	body := &fcgiBody{f: f, pc: pc, br: br, stdout: stdout, stop: stop, limit: -1, idle: o.BodyIdleTimeout}
	fr, err := bodyFraming(req.Method, h)
	switch {
	case err != nil:
		body.finish(false)
		return nil, err
	case fr.length == 0:
		// No body may follow (HEAD, 204, 304): whatever the application
		// wrote anyway is read and dropped.
		res.Body = http.NoBody
		body.finish(body.drain())
		return res, nil
	case fr.length > 0 && !fr.chunked:
		res.ContentLength, body.limit = fr.length, fr.length
	}
	res.Body = body
	return res, nil
}

// recycle puts a stdout reader back.
func (f *FastCGI) recycle(br *bufio.Reader) {
	br.Reset(nil)
	f.readers.Put(br)
}

// write sends BEGIN_REQUEST, the variables as PARAMS, the body as STDIN.
func (f *FastCGI) write(bw *bufio.Writer, req *Request, sv scriptVars) error {
	cl, err := contentLengthVar(req, "")
	if err != nil {
		return err
	}
	// Role responder (1), flags FCGI_KEEP_CONN (1) or none.
	var flags byte
	if f.opt.KeepConn {
		flags = 1
	}
	writeRecord(bw, fcgiBeginRequest, []byte{0, 1, flags, 0, 0, 0, 0, 0})
	buf := f.bufs.get()
	defer f.bufs.put(buf)
	b := appendPair(*buf, fcgiVars{}, "CONTENT_LENGTH", cl)
	b = appendVars(b, fcgiVars{}, req, sv)
	*buf = b
	for len(b) > 0 {
		n := min(len(b), fcgiMaxContent)
		writeRecord(bw, fcgiParams, b[:n])
		b = b[n:]
	}
	writeRecord(bw, fcgiParams, nil)
	if req.hasBody() {
		if err := f.writeStdin(bw, req); err != nil {
			return err
		}
	}
	writeRecord(bw, fcgiStdin, nil)
	return bw.Flush()
}

// writeStdin sends the request body as STDIN records.
func (f *FastCGI) writeStdin(bw *bufio.Writer, req *Request) error {
	src := &sourceReader{r: io.LimitReader(req.Body, req.ContentLength)}
	chunk := f.bufs.get()
	defer f.bufs.put(chunk)
	buf := (*chunk)[:cap(*chunk)]
	var sent int64
	for sent < req.ContentLength {
		n, err := src.Read(buf)
		if n > 0 {
			writeRecord(bw, fcgiStdin, buf[:n])
			sent += int64(n)
		}
		if src.err != nil {
			return &SourceError{Err: src.err}
		}
		if err == io.EOF && sent < req.ContentLength {
			return fmt.Errorf("request body: %d of %d bytes: %w", sent, req.ContentLength, io.ErrUnexpectedEOF)
		}
		if err != nil && err != io.EOF {
			return err
		}
		if werr := writeRecordErr(bw); werr != nil {
			return werr // the connection failed on a flush
		}
	}
	return nil
}

// writeRecord writes one record of request fcgiRequestID; content is at
// most fcgiMaxContent bytes. A failure shows in the writer's next flush
// (or writeRecordErr).
func writeRecord(bw *bufio.Writer, typ byte, content []byte) {
	n := len(content)
	hdr := [8]byte{1, typ, 0, fcgiRequestID, byte(n >> 8), byte(n), 0, 0}
	_, _ = bw.Write(hdr[:])
	_, _ = bw.Write(content)
}

// writeRecordErr reports a failure of an earlier write to bw (a bufio
// writer keeps its first error).
func writeRecordErr(bw *bufio.Writer) error {
	_, err := bw.Write(nil)
	return err
}

// fcgiVars frames variables as FastCGI does: the lengths of name and
// value first, each in one byte below 128, else in four with the top bit
// set.
type fcgiVars struct{}

func (fcgiVars) beforeName(dst []byte, nameLen, valueLen int) []byte {
	return appendFCGILen(appendFCGILen(dst, nameLen), valueLen)
}

func (fcgiVars) beforeValue(dst []byte, _ int) []byte { return dst }
func (fcgiVars) afterValue(dst []byte) []byte         { return dst }

func appendFCGILen(dst []byte, n int) []byte {
	if n < 128 {
		return append(dst, byte(n))
	}
	return append(dst, byte(n>>24)|0x80, byte(n>>16), byte(n>>8), byte(n))
}

// fcgiReader reads the STDOUT stream of one request off the connection,
// handing STDERR records to the error log, until END_REQUEST.
type fcgiReader struct {
	br     *bufio.Reader
	ctx    context.Context
	stderr func(ctx context.Context, msg string)
	left   int  // content bytes left in the current STDOUT record
	pad    int  // padding after it
	done   bool // END_REQUEST was read
	// started: a record arrived (a closed connection is then no longer
	// a stale one).
	started bool
}

func (r *fcgiReader) Read(p []byte) (int, error) {
	for r.left == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n, err := r.br.Read(p[:min(len(p), r.left)])
	r.left -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next reads record headers until a STDOUT record with content (left set)
// or END_REQUEST (done set).
func (r *fcgiReader) next() error {
	if r.pad > 0 {
		if _, err := r.br.Discard(r.pad); err != nil {
			return unexpected(err)
		}
		r.pad = 0
	}
	hdr, err := r.br.Peek(8)
	if err != nil {
		if len(hdr) > 0 || r.started {
			return unexpected(err)
		}
		return err // nothing at all: the connection was closed
	}
	r.started = true
	version, typ := hdr[0], hdr[1]
	id := int(hdr[2])<<8 | int(hdr[3])
	clen, plen := int(hdr[4])<<8|int(hdr[5]), int(hdr[6])
	_, _ = r.br.Discard(8)
	if version != 1 || id != fcgiRequestID {
		return malformed("FastCGI record of version %d for request %d", version, id)
	}
	switch typ {
	case fcgiStdout:
		r.left, r.pad = clen, plen
		return nil
	case fcgiStderr:
		if err := r.readStderr(clen); err != nil {
			return err
		}
		r.pad = plen
		return nil
	case fcgiEndRequest:
		if clen != 8 {
			return malformed("END_REQUEST record of %d bytes", clen)
		}
		body, err := r.br.Peek(8)
		if err != nil {
			return unexpected(err)
		}
		protocolStatus := body[4]
		_, _ = r.br.Discard(8)
		r.pad, r.done = plen, true
		if _, err := r.br.Discard(r.pad); err != nil {
			return unexpected(err)
		}
		r.pad = 0
		switch protocolStatus {
		case 0:
			return nil
		case 2:
			return errors.New("FastCGI server overloaded")
		default:
			return fmt.Errorf("FastCGI server refused the request (protocol status %d)", protocolStatus)
		}
	}
	return malformed("unexpected FastCGI record type %d", typ)
}

// readStderr hands one STDERR record's content to the error log.
func (r *fcgiReader) readStderr(n int) error {
	if n == 0 {
		return nil
	}
	var msg []byte
	for n > 0 {
		b, err := r.br.Peek(min(n, r.br.Size()))
		if len(b) == 0 && err != nil {
			return unexpected(err)
		}
		if r.stderr != nil && len(msg) < 8<<10 {
			msg = append(msg, b[:min(len(b), 8<<10-len(msg))]...)
		}
		_, _ = r.br.Discard(len(b))
		n -= len(b)
	}
	if r.stderr != nil {
		r.stderr(r.ctx, strings.TrimSpace(string(msg)))
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fcgiMaxDrain bounds what is read past the response's end (past its
// Content-Length, or a body after HEAD) to keep the connection: beyond
// it, closing is cheaper.
const fcgiMaxDrain = 64 << 10

// fcgiBody is a FastCGI response body: the rest of the STDOUT stream, or
// its first limit bytes when the application gave a Content-Length. At
// its clean end (END_REQUEST read) the connection goes back to the pool.
type fcgiBody struct {
	f      *FastCGI
	pc     *conn
	br     *bufio.Reader
	stdout *fcgiReader
	stop   func() bool
	limit  int64 // bytes of body left when a Content-Length was given, else -1
	idle   time.Duration
	reads  int
	closed bool
}

func (b *fcgiBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	if b.reads++; b.idle > 0 && b.reads > 1 {
		b.pc.setReadDeadline(time.Now(), b.idle)
	}
	if b.limit == 0 {
		b.finish(b.drain())
		return 0, io.EOF
	}
	if b.limit > 0 && int64(len(p)) > b.limit {
		p = p[:b.limit]
	}
	n, err := b.br.Read(p)
	if b.limit > 0 {
		b.limit -= int64(n)
	}
	switch {
	case err == io.EOF && b.limit > 0:
		err = io.ErrUnexpectedEOF
		b.finish(false)
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	case b.limit == 0:
		b.finish(b.drain())
		err = io.EOF
	}
	return n, err
}

// drain reads the stream to its end, reporting whether it ended cleanly
// within fcgiMaxDrain bytes.
func (b *fcgiBody) drain() bool {
	n, err := io.Copy(io.Discard, io.LimitReader(b.br, fcgiMaxDrain+1))
	return err == nil && n <= fcgiMaxDrain && b.stdout.done
}

// Close releases the connection: to the pool only when the exchange was
// read to its end.
func (b *fcgiBody) Close() error {
	b.finish(false)
	return nil
}

func (b *fcgiBody) finish(reuse bool) {
	if b.closed {
		return
	}
	b.closed = true
	stopped := b.stop()
	buffered := b.br.Buffered()
	b.f.recycle(b.br)
	if reuse && stopped && buffered == 0 && b.f.opt.KeepConn {
		b.f.base.conns.put(b.pc)
		return
	}
	b.f.base.conns.discard(b.pc)
}
