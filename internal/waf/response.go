package waf

import (
	"io"
	"net/http"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// inspector runs the outbound rules over a response: its headers when
// they are written, and, for the text types the rule set inspects, its
// body, which is held (up to the rule set's response body limit) until
// the rules have seen it. A response the rules interrupt is replaced by
// the error page in block mode. Bodies the rules do not look at pass
// straight through, files by sendfile.
type inspector struct {
	errpage.Forwarder
	w     http.ResponseWriter
	tx    types.Transaction
	proto string
	head  bool
	block bool
	v     *verdict
	// settle reports the verdict; it runs before the response's last
	// part is sent.
	settle func()

	status int
	// holding: the header is held while the body fills the rule set's
	// buffer; replaced: the response was swapped for the error page and
	// what the handler writes is dropped.
	holding, replaced, sent bool
}

// WriteHeader runs the response-headers phase.
func (i *inspector) WriteHeader(code int) {
	if i.status != 0 || i.replaced {
		return
	}
	if code < 200 {
		i.w.WriteHeader(code)
		return
	}
	i.status = code
	for k, vv := range i.w.Header() {
		for _, v := range vv {
			i.tx.AddResponseHeader(k, v)
		}
	}
	if it := i.tx.ProcessResponseHeaders(code, i.proto); it != nil && i.interrupt(it) {
		return
	}
	if !i.head && code != http.StatusNoContent && code != http.StatusNotModified &&
		i.tx.IsResponseBodyAccessible() && i.tx.IsResponseBodyProcessable() {
		i.holding = true
		return
	}
	// The rules have seen all they will: the verdict is final.
	i.settle()
	i.send()
}

// interrupt records an interruption; in block mode it answers with the
// error page instead (reporting true).
func (i *inspector) interrupt(it *types.Interruption) bool {
	i.v.interrupted(it)
	if !i.block || i.sent {
		return false
	}
	i.v.blocked, i.replaced, i.holding = true, true, false
	i.settle()
	clear(i.w.Header())
	errpage.Write(i.w, interruptionStatus(it))
	i.sent = true
	return true
}

func (i *inspector) send() {
	if !i.sent {
		i.sent = true
		i.w.WriteHeader(i.status)
	}
}

// Write feeds the held body to the rules; past their limit, the rules
// judge what they have, and the rest streams.
func (i *inspector) Write(p []byte) (int, error) {
	if i.status == 0 {
		i.WriteHeader(http.StatusOK)
	}
	if i.replaced {
		return len(p), nil
	}
	if !i.holding {
		return i.w.Write(p)
	}
	it, n, err := i.tx.WriteResponseBody(p)
	if err != nil {
		return n, err
	}
	if it != nil && i.interrupt(it) {
		return len(p), nil
	}
	if n == len(p) {
		return n, nil
	}
	// The rule set's buffer is full: judge the part held, then stream.
	if !i.release() {
		return len(p), nil
	}
	m, err := i.w.Write(p[n:])
	return n + m, err
}

// release runs the response-body phase over what is held and sends it;
// false when the response was replaced.
func (i *inspector) release() bool {
	i.holding = false
	it, err := i.tx.ProcessResponseBody()
	if err != nil {
		i.v.failed = true
		if i.interrupt(&types.Interruption{Status: http.StatusInternalServerError}) {
			return false
		}
	}
	if it != nil && i.interrupt(it) {
		return false
	}
	i.settle()
	i.send()
	if rd, err := i.tx.ResponseBodyReader(); err == nil {
		_, _ = io.Copy(i.w, rd)
	}
	return true
}

// ReadFrom keeps the writer's sendfile path for bodies that are not
// inspected.
func (i *inspector) ReadFrom(r io.Reader) (int64, error) {
	if i.status == 0 {
		i.WriteHeader(http.StatusOK)
	}
	if !i.holding && !i.replaced {
		if rf, ok := i.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(r)
		}
	}
	return io.Copy(struct{ io.Writer }{i}, r)
}

// Header is the response's header.
func (i *inspector) Header() http.Header { return i.w.Header() }

// Flush passes a flush on unless the body is held.
func (i *inspector) Flush() {
	if i.status == 0 {
		i.WriteHeader(http.StatusOK)
	}
	if !i.holding && !i.replaced {
		_ = http.NewResponseController(i.w).Flush()
	}
}

// Unwrap gives http.ResponseController the client's writer.
func (i *inspector) Unwrap() http.ResponseWriter { return i.w }

// finish judges and sends a body still held when the handler returns.
func (i *inspector) finish() {
	if i.status == 0 {
		// The handler wrote nothing (or hijacked the connection).
		return
	}
	if i.holding {
		i.release()
	}
}
