package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// upgradeOf reports the protocol a request asks to switch to, "" for
// none: an HTTP/1.1 Upgrade (with Connection: upgrade), or an HTTP/2
// extended CONNECT with a :protocol (RFC 8441; h2 is then true).
func upgradeOf(r *http.Request) (proto string, h2 bool) {
	if r.Method == http.MethodConnect {
		if p := r.Header[":protocol"]; len(p) > 0 && r.ProtoMajor >= 2 {
			return p[0], true
		}
		return "", false
	}
	if len(r.Header["Upgrade"]) == 0 {
		return "", false
	}
	upgrade := false
	httpsyntax.ForEachToken(r.Header["Connection"], func(t string) { upgrade = upgrade || strings.EqualFold(t, "upgrade") })
	if !upgrade {
		return "", false
	}
	return r.Header["Upgrade"][0], false
}

// serveUpgrade relays a protocol switch (a WebSocket, mostly). Upstream it
// is always an HTTP/1.1 Upgrade request; the client may have asked over
// HTTP/1.1 (the connection is then handed over after a 101) or over
// HTTP/2 with an extended CONNECT (the stream becomes the tunnel after a
// 200). Once the upstream switched, bytes flow both ways until either
// side closes. An upstream that refuses the switch is answered as any
// response.
func (h *Handler) serveUpgrade(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, proto string, h2 bool) {
	srv, err := h.pool.Pick(r, info.ClientIP, nil)
	if err != nil {
		h.opt.Log.Warn("no upstream server available", "pool", h.pool.Name(), "request_id", info.ID)
		w.Header().Set("Retry-After", "10")
		h.writeError(w, http.StatusServiceUnavailable)
		return
	}
	info.Upstream = srv.Endpoint
	ex := &exchange{w: w}
	out := &ex.out
	out.Method, out.Target, out.Host, out.Header = http.MethodGet, r.URL.RequestURI(), r.Host, r.Header
	out.Skip, out.Into = skipFor(r.Header), w.Header()
	if h.opt.Tracer != nil {
		skip := out.Skip
		out.Skip = func(name string) bool { return name == "Traceparent" || name == "Tracestate" || skip(name) }
	}
	out.Extra = append(ex.forwarded(r, info),
		upstream.Field{Name: "Connection", Value: "Upgrade"}, upstream.Field{Name: "Upgrade", Value: proto})
	key := ""
	if h2 && strings.EqualFold(proto, "websocket") {
		// Over HTTP/2 the client sends no key (RFC 8441, section 5);
		// HTTP/1.1 needs one.
		key = webSocketKey()
		skip := out.Skip
		out.Skip = func(name string) bool { return name == "Sec-Websocket-Key" || skip(name) }
		out.Extra = append(out.Extra, upstream.Field{Name: "Sec-WebSocket-Key", Value: key})
	}
	if !h2 && r.Body != nil && r.Body != http.NoBody {
		out.Body, out.ContentLength = unclosed{r.Body}, r.ContentLength
	}

	srv.Acquire()
	defer srv.Release()
	start := time.Now()
	span := h.traceAttempt(r, srv, out, len(out.Extra))
	res, err := h.client.Do(r.Context(), srv.Addr, out)
	info.UpstreamTime = time.Since(start)
	status := 0
	if err == nil {
		status = res.StatusCode
	}
	span.End(status, err)
	if r.Context().Err() == nil {
		srv.Stats.Observe(status, info.UpstreamTime)
	}
	if err != nil {
		if r.Context().Err() == nil && !isClientBodyError(err) {
			h.pool.Failed(srv, err)
		}
		clear(w.Header())
		h.fail(w, r, err)
		return
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		h.respond(w, r, res)
		return
	}
	backend, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		res.Body.Close()
		clear(w.Header())
		h.fail(w, r, errors.New("a 101 response without a connection"))
		return
	}
	defer backend.Close()
	// A 101's fields are in a map of their own (the response's fields go
	// to the client's map only for a final response).
	hdr := w.Header()
	clear(hdr)
	for k, v := range res.Header {
		hdr[k] = v
	}
	if got := hdr.Get("Upgrade"); !strings.EqualFold(got, proto) {
		clear(hdr)
		h.fail(w, r, fmt.Errorf("upstream switched to %q when %q was asked", got, proto))
		return
	}
	if key != "" && hdr.Get("Sec-Websocket-Accept") != webSocketAccept(key) {
		clear(hdr)
		h.fail(w, r, errors.New("upstream's Sec-WebSocket-Accept does not match the key sent"))
		return
	}
	for _, name := range h.hide {
		delete(hdr, name)
	}
	if h2 {
		removeHopByHop(hdr)
		delete(hdr, "Sec-Websocket-Accept")
		h.tunnelStream(w, r, backend)
		return
	}
	h.tunnelConn(w, r, backend)
}

// tunnelConn hands the client's HTTP/1.1 connection over to the switched
// protocol: the 101 response, then bytes both ways.
func (h *Handler) tunnelConn(w http.ResponseWriter, r *http.Request, backend io.ReadWriteCloser) {
	hdr := w.Header()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.opt.Log.Warn("protocol switch failed", "error", err, "request_id", reqinfo.From(r.Context()).ID)
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	if err := hdr.Write(brw); err != nil {
		return
	}
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	var client io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		client = io.MultiReader(io.LimitReader(brw.Reader, int64(n)), conn)
	}
	closeWrite := func() {
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	h.splice(r, conn, client, closeWrite, backend)
}

// tunnelStream makes an HTTP/2 stream the tunnel: a 200, then the
// request body goes to the upstream and the upstream's bytes go out as
// the response, each piece as it comes.
func (h *Handler) tunnelStream(w http.ResponseWriter, r *http.Request, backend io.ReadWriteCloser) {
	// The tunnel is written below the site's writer: its pacing of slow
	// readers measures responses, not a conversation that may idle.
	raw := w
	for {
		u, ok := raw.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		raw = u.Unwrap()
	}
	w.WriteHeader(http.StatusOK)
	ctl := http.NewResponseController(raw)
	if err := ctl.Flush(); err != nil {
		return
	}
	h.splice(r, flushWriter{raw, ctl}, r.Body, nil, backend)
}

// flushWriter flushes every write, so that a message reaches the client
// when it is sent.
type flushWriter struct {
	w   io.Writer
	ctl *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.ctl.Flush()
	}
	return n, err
}

// spliceGrace is how long the second direction of a tunnel may go on
// once the first has ended cleanly: a WebSocket peer answers a close
// promptly, and nothing waits on one that never does.
const spliceGrace = 10 * time.Second

// splice copies client to backend and backend to clientOut. A direction
// that ends cleanly passes the end on (a half-close) and the other gets
// spliceGrace to end too; a failure, or the request's cancellation, ends
// both at once. closeClientWrite half-closes the client's side, when it
// can be.
func (h *Handler) splice(r *http.Request, clientOut io.Writer, client io.Reader, closeClientWrite func(), backend io.ReadWriteCloser) {
	done := make(chan error, 2)
	stop := context.AfterFunc(r.Context(), func() { backend.Close() })
	defer stop()
	go func() {
		buf := h.copies.Get()
		defer h.copies.Put(buf)
		_, err := io.CopyBuffer(backend, onlyReader{client}, buf)
		if cw, ok := backend.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		}
		done <- err
	}()
	go func() {
		buf := h.copies.Get()
		defer h.copies.Put(buf)
		_, err := io.CopyBuffer(clientOut, onlyReader{backend}, buf)
		if err == nil && closeClientWrite != nil {
			closeClientWrite()
		}
		done <- err
	}()
	if err := <-done; err == nil {
		t := time.NewTimer(spliceGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	}
}

// onlyReader hides WriterTo, so io.CopyBuffer uses the buffer it is given.
type onlyReader struct{ io.Reader }

// webSocketKey returns a fresh Sec-WebSocket-Key.
func webSocketKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// webSocketAccept is the Sec-WebSocket-Accept that answers key (RFC 6455).
func webSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"))
	return base64.StdEncoding.EncodeToString(sum[:])
}
