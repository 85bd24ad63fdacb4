package h2

import (
	"encoding/binary"
	"runtime"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Frames go into conn.out under conn.mu, in the order they must leave;
// the first writer to find no flush under way becomes the flusher and
// writes the buffer out (swapping it for a spare), until it is empty.

const (
	// maxOut is how much a stream's writes may queue before they wait for
	// the flusher: the bound on a connection's output buffer, beyond the
	// one frame that crosses it and the connection's own control frames.
	maxOut = 256 << 10
	// maxKeptBuffer is the largest output buffer kept for reuse.
	maxKeptBuffer = 64 << 10
	// maxControlQueued is how many control frames (SETTINGS and PING
	// acknowledgements, resets) may wait unwritten before the client,
	// which sends what causes them without reading the answers, is
	// disconnected.
	maxControlQueued = 10000
)

// appendFrameHeader appends the 9-byte header of a frame.
func appendFrameHeader(b []byte, length int, t http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

// queueControlLocked appends a control frame the reader loop answers with and
// makes sure it is flushed without the reader writing itself (a client
// that sends without reading must not stop the reading). False when too
// many are queued.
func (c *conn) queueControlLocked(b []byte) bool {
	c.out = append(c.out, b...)
	c.controlQueued++
	if c.controlQueued > maxControlQueued {
		return false
	}
	c.kickLocked()
	return true
}

// kickLocked starts a flusher goroutine when none is running.
func (c *conn) kickLocked() {
	if c.flushing || c.werr != nil || len(c.out) == 0 {
		return
	}
	c.flushing = true
	go c.flushLoop()
}

// flushLocked makes the caller the flusher when there is none, writing
// what is queued (mu is released while writing and held again on
// return); yield first lets the streams that are about to finish add
// their frames to the same write.
func (c *conn) flushLocked(yield bool) {
	if c.flushing || c.werr != nil || len(c.out) == 0 {
		return
	}
	c.flushing = true
	c.mu.Unlock()
	if yield {
		runtime.Gosched()
	}
	c.flushLoop()
	c.mu.Lock()
}

// flushLoop writes the output buffer until it finds it empty; the caller
// has set flushing.
func (c *conn) flushLoop() {
	c.mu.Lock()
	for len(c.out) > 0 && c.werr == nil {
		buf := c.out
		c.out, c.spare = c.spare[:0], nil
		c.controlQueued = 0
		c.space.Broadcast()
		timeout := c.opts.SendTimeout
		if c.closing {
			timeout = lingerTime
		}
		// Set under mu, so that close's shorter deadline cannot be
		// overwritten.
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		c.mu.Unlock()
		_, err := c.nc.Write(buf)
		c.mu.Lock()
		if err != nil {
			c.failLocked(err)
			break
		}
		if cap(buf) <= maxKeptBuffer {
			c.spare = buf[:0]
		}
	}
	c.flushing = false
	c.space.Broadcast()
	c.mu.Unlock()
}

// failLocked records that the connection can take no more writes and
// wakes everyone waiting to write or read.
func (c *conn) failLocked(err error) {
	if c.werr == nil {
		c.werr = err
	}
	c.space.Broadcast()
	for _, s := range c.streams {
		s.wake()
	}
}

// appendHeadersLocked HPACK-encodes fields and appends them as a HEADERS
// frame and as many CONTINUATION frames as the peer's frame size needs.
func (c *conn) appendHeadersLocked(id uint32, endStream bool, encode func(e *hpack.Encoder)) {
	c.hbuf.Reset()
	encode(c.henc)
	block := c.hbuf.Bytes()
	first := true
	for first || len(block) > 0 {
		n := min(len(block), int(c.peerMaxFrame))
		var flags http2.Flags
		t := http2.FrameContinuation
		if first {
			t = http2.FrameHeaders
			if endStream {
				flags |= http2.FlagHeadersEndStream
			}
		}
		if n == len(block) {
			flags |= http2.FlagHeadersEndHeaders
		}
		c.out = appendFrameHeader(c.out, n, t, flags, id)
		c.out = append(c.out, block[:n]...)
		block = block[n:]
		first = false
	}
}

// appendDataLocked appends one DATA frame.
func (c *conn) appendDataLocked(id uint32, p []byte, endStream bool) {
	var flags http2.Flags
	if endStream {
		flags = http2.FlagDataEndStream
	}
	c.out = appendFrameHeader(c.out, len(p), http2.FrameData, flags, id)
	c.out = append(c.out, p...)
}

// rstFrame is an RST_STREAM frame.
func rstFrame(id uint32, code http2.ErrCode) []byte {
	b := appendFrameHeader(make([]byte, 0, 13), 4, http2.FrameRSTStream, 0, id)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

// windowUpdateFrame is a WINDOW_UPDATE frame.
func windowUpdateFrame(id uint32, n uint32) []byte {
	b := appendFrameHeader(make([]byte, 0, 13), 4, http2.FrameWindowUpdate, 0, id)
	return binary.BigEndian.AppendUint32(b, n)
}

// goAwayFrame is a GOAWAY frame.
func goAwayFrame(last uint32, code http2.ErrCode) []byte {
	b := appendFrameHeader(make([]byte, 0, 17), 8, http2.FrameGoAway, 0, 0)
	b = binary.BigEndian.AppendUint32(b, last&0x7fffffff)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

// settingsFrame is a SETTINGS frame with the given settings.
func settingsFrame(settings ...http2.Setting) []byte {
	b := appendFrameHeader(nil, 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return b
}

// settingsAck and pingAck are the acknowledgements the reader sends.
var settingsAck = appendFrameHeader(nil, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)

func pingAck(data [8]byte) []byte {
	b := appendFrameHeader(make([]byte, 0, 17), 8, http2.FramePing, http2.FlagPingAck, 0)
	return append(b, data[:]...)
}
