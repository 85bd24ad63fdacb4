package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gatehouse/gatehouse/internal/peer"
	"github.com/gatehouse/gatehouse/internal/sockio"
)

const (
	// defaultMaxStreams is the default SETTINGS_MAX_CONCURRENT_STREAMS.
	defaultMaxStreams = 128
	// streamWindow is the receive window of each stream: how much of a
	// request body a client may send ahead of the handler's reads.
	streamWindow = 256 << 10
	// connWindow is the receive window of the connection: the most of
	// its request bodies it holds unread, whatever the number of
	// streams.
	connWindow = 1 << 20
	// initialWindow is the protocol's window before SETTINGS change it.
	initialWindow = 65535
	// maxWindow is the largest flow-control window (2^31-1).
	maxWindow = 1<<31 - 1
	// maxFrame is the largest frame read and written (the protocol's
	// default, as nginx uses).
	maxFrame = 16 << 10
	// readBufferSize is the size of a connection's read buffer.
	readBufferSize = 16 << 10
	// recentResets is how many streams reset by the server are
	// remembered, so that the frames a client sent before it saw the
	// reset are ignored rather than treated as errors.
	recentResets = 32
)

// clientPreface opens every HTTP/2 connection.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// conn is one HTTP/2 connection. Its reader goroutine (serve) reads and
// dispatches frames; handler goroutines write through the output buffer.
type conn struct {
	srv    *Server
	opts   *Options
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	tls    *tls.ConnectionState
	remote string
	br     *lazyReader
	fr     *http2.Framer

	mu sync.Mutex // guards what follows
	// space is signalled when the output buffer drains or a window
	// grows: what stream writers wait for.
	space         sync.Cond
	streams       map[uint32]*stream
	maxClientID   uint32 // highest stream id the client has opened
	running       int    // handler goroutines that have not returned
	queued        []*stream
	resets        [recentResets]uint32
	resetNext     int
	goAway        bool // a GOAWAY went out; no new streams
	readIdle      bool // the read deadline is the idle one
	peerWindow    int32
	peerMaxFrame  uint32
	sendWindow    int64 // connection-level send window
	recvWindow    int64 // connection-level bytes the client may still send
	recvUnacked   int64 // consumed, not yet given back with WINDOW_UPDATE
	out, spare    []byte
	flushing      bool
	werr          error
	controlQueued int
	lingerOnClose bool // the server ends the connection: linger
	closed        bool
	gotSettings   bool // the client's first SETTINGS came
	idleUntil     time.Time
	park          parking
	closing       bool // close has begun: writes get lingerTime
	henc          *hpack.Encoder
	hbuf          bytes.Buffer
}

func newConn(s *Server, nc net.Conn, opts *Options) *conn {
	c := &conn{srv: s, opts: opts, nc: nc, remote: nc.RemoteAddr().String(),
		streams: map[uint32]*stream{}, peerWindow: initialWindow, peerMaxFrame: maxFrame,
		sendWindow: initialWindow, recvWindow: connWindow}
	c.space.L = &c.mu
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.park.fd = sockio.FD(nc)
	if tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
	ctx := context.WithValue(s.baseCtx, http.LocalAddrContextKey, nc.LocalAddr())
	c.ctx, c.cancel = context.WithCancel(peer.With(ctx, nc.RemoteAddr()))
	return c
}

// serve reads the preface and then frames until the connection ends or
// parks.
func (c *conn) serve() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.opts.HeaderTimeout))
	c.br = &lazyReader{r: c.nc, waited: c.waited}
	c.br.idle.Store(true)
	var preface [len(clientPreface)]byte
	if _, err := io.ReadFull(c.br, preface[:]); err != nil || string(preface[:]) != clientPreface {
		c.close()
		return
	}
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	// The framer decodes up to four times the advertised size: a
	// header list over the limit gets a 431 (headerListSize), one far
	// over it ends the connection.
	c.fr.MaxHeaderListSize = uint32(4 * c.opts.MaxHeaderSize)
	c.fr.SetMaxReadFrameSize(maxFrame)
	c.fr.SetReuseFrames()

	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.opts.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.opts.MaxHeaderSize)},
	}
	if c.opts.ExtendedConnect {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	c.mu.Lock()
	c.out = append(c.out, settingsFrame(settings...)...)
	c.out = append(c.out, windowUpdateFrame(0, connWindow-initialWindow)...)
	c.kickLocked()
	c.mu.Unlock()
	c.run()
}

// run reads and processes frames until the connection ends (closing
// it) or parks.
func (c *conn) run() {
	for {
		c.br.boundary = true
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) && c.gotSettings {
				// A frame of one stream was wrong (its header
				// fields, a zero window increment); the framer has
				// read it whole.
				c.resetStream(se.StreamID, se.Code)
				if !c.afterFrame() {
					break
				}
				continue
			}
			if c.tryPark(err) {
				return
			}
			c.readFailed(err)
			break
		}
		if !c.gotSettings {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.connError(http2.ErrCodeProtocol)
				break
			}
			c.gotSettings = true
		}
		if err := c.process(f); err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.resetStream(se.StreamID, se.Code)
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.connError(http2.ErrCode(ce))
			}
			break
		}
		if !c.afterFrame() {
			break
		}
	}
	c.close()
}

// readFailed ends the connection after a failed read: a protocol error
// gets a GOAWAY, an idle or finished connection a polite one.
func (c *conn) readFailed(err error) {
	var ce http2.ConnectionError
	var se http2.StreamError
	switch {
	case errors.As(err, &se):
		// As the first frame: not the SETTINGS the preface needs.
		c.connError(http2.ErrCodeProtocol)
	case errors.As(err, &ce):
		c.connError(http2.ErrCode(ce))
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.connError(http2.ErrCodeFrameSize)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.connError(http2.ErrCodeNo)
	}
}

// afterFrame moves the read deadline between idle and busy and says
// whether to go on reading (false once a GOAWAY went out and the last
// stream is done).
func (c *conn) afterFrame() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updateIdleLocked()
}

// updateIdleLocked sets the idle read deadline when no stream is open
// and lifts it when one is; false when a connection going away has
// nothing left to do.
func (c *conn) updateIdleLocked() bool {
	idle := len(c.streams) == 0 && c.running == 0
	if idle && c.goAway {
		c.unparkLocked()
		_ = c.nc.SetReadDeadline(time.Now())
		return false
	}
	if idle != c.readIdle {
		c.readIdle = idle
		c.br.idle.Store(idle)
		if idle {
			if !c.flushing && len(c.out) == 0 {
				c.out, c.spare = nil, nil // an idle connection keeps no write buffer
			}
			c.idleUntil = time.Now().Add(c.opts.IdleTimeout)
			_ = c.nc.SetReadDeadline(c.idleUntil)
			c.armParkLocked()
		} else {
			c.disarmParkLocked()
			_ = c.nc.SetReadDeadline(time.Time{})
		}
	}
	return true
}

// goAwayGracefully sends a GOAWAY that lets the streams already opened
// finish; the connection closes after the last.
func (c *conn) goAwayGracefully() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goAway || c.werr != nil {
		return
	}
	c.goAway = true
	c.out = append(c.out, goAwayFrame(c.maxClientID, http2.ErrCodeNo)...)
	c.kickLocked()
	c.updateIdleLocked()
}

// connError sends a GOAWAY with code and ends the connection (serve
// closes it on return).
func (c *conn) connError(code http2.ErrCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr != nil {
		return
	}
	if !c.goAway || code != http2.ErrCodeNo {
		c.goAway = true
		c.out = append(c.out, goAwayFrame(c.maxClientID, code)...)
	}
	c.lingerOnClose = true
}

// close ends the connection: streams still running see their context
// canceled and their reads and writes fail.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.disarmParkLocked()
	// What is queued leaves first (a GOAWAY, the last responses), within
	// lingerTime, a write under way included.
	c.closing = true
	_ = c.nc.SetWriteDeadline(time.Now().Add(lingerTime))
	for c.flushing {
		c.space.Wait()
	}
	c.flushLocked(false)
	c.failLocked(errConnClosed)
	for id, s := range c.streams {
		s.abortLocked(errConnClosed)
		delete(c.streams, id)
	}
	c.queued = nil
	linger := c.lingerOnClose
	c.mu.Unlock()
	c.cancel()
	if linger {
		c.linger()
	}
	_ = c.nc.Close()
	c.srv.forget(c)
}

// lingerTime is how long a connection closed by the server reads what
// the client still sends, so that closing with unread input does not
// reset the connection and destroy the last responses before the client
// has read them.
const lingerTime = time.Second

// linger half-closes the connection and reads until the client closes
// its side or lingerTime passes.
func (c *conn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, c.nc)
}

// process handles one frame from the client. A returned StreamError
// resets that stream; any other error ends the connection (with a
// GOAWAY when it is a ConnectionError).
func (c *conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if f.StreamID != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if f.IsAck() {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.queueControlLocked(pingAck(f.Data)) {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
		return nil
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamID == f.StreamDep {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.goAway = true // the client opens no more streams
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil // unknown extension frames are ignored
}

// processSettings applies the client's settings in order and
// acknowledges them.
func (c *conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(c.peerWindow)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.peerWindow = int32(s.Val)
			c.space.Broadcast()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = min(s.Val, maxFrame)
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !c.queueControlLocked(settingsAck) {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return nil
}

// processWindowUpdate grows a send window.
func (c *conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > maxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.space.Broadcast()
		return nil
	}
	s := c.streams[f.StreamID]
	if s == nil {
		if f.StreamID > c.maxClientID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	s.sendWindow += int64(f.Increment)
	if s.sendWindow > maxWindow {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	c.space.Broadcast()
	return nil
}

// processReset handles the client's RST_STREAM.
func (c *conn) processReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[f.StreamID]
	if s == nil {
		if f.StreamID > c.maxClientID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	s.abortLocked(errStreamReset)
	c.removeLocked(s)
	return nil
}

// resetStream sends RST_STREAM for id and forgets the stream.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams[id]; s != nil {
		s.abortLocked(errStreamReset)
		c.removeLocked(s)
	}
	if id%2 == 1 && id > c.maxClientID {
		c.maxClientID = id
	}
	c.rememberResetLocked(id)
	if !c.queueControlLocked(rstFrame(id, code)) {
		c.failLocked(errConnClosed)
		_ = c.nc.Close()
	}
}

// rememberResetLocked notes a stream the server reset.
func (c *conn) rememberResetLocked(id uint32) {
	c.resets[c.resetNext] = id
	c.resetNext = (c.resetNext + 1) % recentResets
}

// wasResetLocked reports whether the server reset id lately.
func (c *conn) wasResetLocked(id uint32) bool {
	for _, r := range c.resets {
		if r == id {
			return true
		}
	}
	return false
}

// removeLocked forgets a stream that is closed, returning the
// connection window its unread body held.
func (c *conn) removeLocked(s *stream) {
	if c.streams[s.id] != s {
		return
	}
	delete(c.streams, s.id)
	if n := len(s.buf) - s.off; n > 0 {
		s.buf, s.off = nil, 0
		c.giveBackLocked(int64(n))
	}
}

// giveBackLocked returns n consumed bytes to the connection's receive
// window, sending a WINDOW_UPDATE once a quarter of it is consumed.
func (c *conn) giveBackLocked(n int64) {
	c.recvUnacked += n
	if c.recvUnacked >= connWindow/4 {
		c.recvWindow += c.recvUnacked
		c.out = append(c.out, windowUpdateFrame(0, uint32(c.recvUnacked))...)
		c.recvUnacked = 0
		c.kickLocked()
	}
}
