package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2FloodScenario opens n HTTP/2 connections (over TLS, or h2c with prior
// knowledge on the plain listener) and floods each: "rapid reset" opens
// 5,000 streams and cancels each at once; "CONTINUATION flood" sends a
// header block that never ends, 16 KB at a time, up to 10 MB. Gatehouse
// must cut the connection off with GOAWAY (or survive the resets and still
// answer a PING), with no answer owed and nothing left behind.
func h2FloodScenario(kind string, overTLS bool, n int) scenario {
	proto := "h2c"
	if overTLS {
		proto = "TLS"
	}
	expect := []string{"goaway", "survived"}
	if kind != "rapid reset" {
		expect = []string{"goaway"}
	}
	return scenario{name: fmt.Sprintf("clients: HTTP/2 %s, %s", kind, proto), expect: expect, run: func(e *env) outcomes {
		var c counter
		parallel(n, n, func(i int) {
			conn, err := h2Dial(e, overTLS, i)
			if err != nil {
				c.add("dial " + harness.Failure(err))
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			fr := http2.NewFramer(conn, conn)
			fr.AllowIllegalReads = true
			seen := make(chan string, 1)
			pong := make(chan struct{}, 1)
			go readUntilGoaway(fr, seen, pong)
			if kind == "rapid reset" {
				rapidReset(fr, e.addr)
			} else {
				continuationFlood(fr)
			}
			_ = fr.WritePing(false, [8]byte{1})
			select {
			case s := <-seen:
				c.add(s)
			case <-pong:
				c.add("survived")
			case <-time.After(10 * time.Second):
				c.add("no answer")
			}
		})
		return c.outcomes("")
	}}
}

// h2Dial connects and sends the client preface and an empty SETTINGS.
func h2Dial(e *env, overTLS bool, i int) (net.Conn, error) {
	addr := e.addr
	if overTLS {
		addr = e.tlsAddr
	}
	conn, err := dial(addr, i)
	if err != nil {
		return nil, err
	}
	if overTLS {
		conf := e.tlsConf.Clone()
		conf.NextProtos = []string{"h2"}
		tc := tls.Client(conn, conf)
		if err := tc.Handshake(); err != nil {
			_ = conn.Close()
			return nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			_ = conn.Close()
			return nil, fmt.Errorf("h2 not negotiated")
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := http2.NewFramer(conn, nil).WriteSettings(); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// readUntilGoaway reads frames, acknowledging SETTINGS, until GOAWAY
// ("goaway" to seen), the connection's end ("closed"), or a PING ack.
func readUntilGoaway(fr *http2.Framer, seen chan<- string, pong chan<- struct{}) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			seen <- "closed"
			return
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			seen <- "goaway"
			return
		case *http2.PingFrame:
			if f.IsAck() {
				pong <- struct{}{}
			}
		}
	}
}

// requestBlock is an HPACK block for GET authority/ok.
func requestBlock(authority, path string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return buf.Bytes()
}

// rapidReset opens streams and cancels each at once, writing as fast as
// the connection takes them.
func rapidReset(fr *http2.Framer, authority string) {
	block := requestBlock(authority, "/ok")
	for id := uint32(1); id < 10_000; id += 2 {
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}) != nil {
			return
		}
		if fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			return
		}
	}
}

// continuationFlood sends a HEADERS frame and CONTINUATION frames after
// it, none ending the block: 10 MB of one header's value.
func continuationFlood(fr *http2.Framer) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
	if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.Bytes(), EndStream: true}) != nil {
		return
	}
	chunk := []byte(strings.Repeat("a", 16<<10))
	for range 640 {
		if fr.WriteContinuation(1, false, chunk) != nil {
			return
		}
	}
}
