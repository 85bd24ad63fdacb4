package waf

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// Options are what a route's WAF shares with the rest of the process.
type Options struct {
	// Log gets the WAF's own failures.
	Log *slog.Logger
	// Spool buffers request bodies, once, for inspection and for the
	// upstream.
	Spool *buffer.Spool
	// Patches are the virtual patches (nil: none).
	Patches *Patches
	// Audit, when set, gets a JSON line for each request a rule matched.
	Audit *AuditLog
	// Counters count the route's verdicts (nil: not counted).
	Counters *Counters
	// Site names the route's site in the audit log.
	Site string
}

// Handler inspects a route's requests, and their responses when the
// policy asks, before and after the route's handler.
type Handler struct {
	next      http.Handler
	rules     coraza.WAF
	block     bool
	responses bool
	// bodyLimit is how much of a request body is inspected; a longer
	// one is refused (413) unless partial.
	bodyLimit int64
	partial   bool
	opt       Options
}

// New compiles p (or reuses its compiled rule set from lib) and returns
// next wrapped in its inspection, with the key that names the rule set
// for Library.Keep.
func New(lib *Library, p *config.WAFPolicy, next http.Handler, opt Options) (*Handler, string, error) {
	rules, key, err := lib.ruleSet(p)
	if err != nil {
		return nil, "", err
	}
	return &Handler{next: next, rules: rules, block: p.Block, responses: p.Responses,
		bodyLimit: p.BodyLimit, partial: p.PartialBodies, opt: opt}, key, nil
}

// transaction is one request's inspection by one rule set.
type transaction struct {
	types.Transaction
	// patches marks the virtual patches' transaction.
	patches bool
}

func newTransaction(w coraza.WAF, r *http.Request, id string) types.Transaction {
	if ow, ok := w.(experimental.WAFWithOptions); ok {
		return ow.NewTransactionWithOptions(experimental.Options{ID: id, Context: r.Context()})
	}
	return w.NewTransaction()
}

// exchange is one request's inspection: its transactions and what they
// found.
type exchange struct {
	h    *Handler
	r    *http.Request
	info *reqinfo.Info
	txs  []transaction
	v    *verdict
	// settled: the verdict is final and reported; next: the route's
	// handler is running (its panics are not the WAF's).
	settled, next bool
}

// settle runs the logging phase, gathers what the rules found and
// reports it (access log fields, counters, audit log). It runs as soon
// as the verdict is final, before the response's last bytes go out, so
// that whoever reads the audit log after the response finds the request
// there.
func (ex *exchange) settle() {
	if ex.settled {
		return
	}
	ex.settled = true
	for _, tx := range ex.txs {
		tx.ProcessLogging()
		ex.v.collect(tx.Transaction, tx.patches, ex.h.opt.Patches)
	}
	ex.h.report(ex.r, ex.info, ex.v)
}

// ServeHTTP inspects the request, answers it with the interrupting rule's
// status (403 by default) in block mode, and otherwise passes it on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := reqinfo.From(r.Context())
	ex := &exchange{h: h, r: r, info: info, txs: make([]transaction, 0, 2), v: &verdict{}}
	if pw := h.opt.Patches.ruleSet(); pw != nil {
		ex.txs = append(ex.txs, transaction{newTransaction(pw, r, info.ID), true})
	}
	ex.txs = append(ex.txs, transaction{newTransaction(h.rules, r, info.ID), false})
	defer func() {
		ex.settle()
		for _, tx := range ex.txs {
			_ = tx.Close()
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler || ex.next {
				panic(p)
			}
			// Fail closed: a request the WAF could not finish with is
			// not let through.
			h.opt.Log.Error("waf failed", "request_id", info.ID, "panic", p)
			ex.v.failed = true
			ex.settle()
			errpage.Write(w, http.StatusInternalServerError)
		}
	}()
	body, rest, it, err := h.inspectRequest(r, info, ex.txs)
	if body != nil {
		defer body.Close()
	}
	if err != nil {
		ex.v.failed = true
		ex.settle()
		if body == nil && !coraza500(err) {
			buffer.Refuse(w, r, err, h.opt.Log)
			return
		}
		h.opt.Log.Error("waf failed", "request_id", info.ID, "error", err)
		errpage.Write(w, http.StatusInternalServerError)
		return
	}
	if it != nil {
		ex.v.interrupted(it)
		if h.block {
			ex.v.blocked = true
			ex.settle()
			errpage.Write(w, interruptionStatus(it))
			return
		}
	}
	switch {
	case rest != nil:
		// Inspected in part: the upstream gets the inspected part, then
		// the rest as it comes.
		r.Body = joinedBody{io.MultiReader(body, rest)}
	case body != nil:
		r.Body, r.ContentLength = body, body.Len()
	}
	main := ex.txs[len(ex.txs)-1].Transaction
	if !h.responses || main.IsInterrupted() {
		// Nothing is left to inspect.
		ex.settle()
		ex.next = true
		h.next.ServeHTTP(w, r)
		return
	}
	rw := &inspector{Forwarder: errpage.Forwarder{W: w}, w: w, tx: main, proto: r.Proto, head: r.Method == http.MethodHead,
		block: h.block, v: ex.v, settle: ex.settle}
	ex.next = true
	h.next.ServeHTTP(rw, r)
	ex.next = false
	rw.finish()
}

// inspectRequest runs each transaction over the request line, headers
// and body. The body is read from the client once, into the spool, and
// returned for the upstream; rest is the part of a body past body_limit
// in partial mode (nil when the body was read whole). err is a body that
// could not be read, or a failure of the WAF itself (then body is set or
// coraza500 says so).
func (h *Handler) inspectRequest(r *http.Request, info *reqinfo.Info, txs []transaction) (body *buffer.Body, rest io.Reader, first *types.Interruption, err error) {
	for _, tx := range txs {
		if it := startRequest(tx.Transaction, r, info); it != nil && h.block {
			return nil, nil, it, nil
		}
	}
	if r.Body != nil && r.Body != http.NoBody && anyBodyAccess(txs) {
		if body, rest, err = h.readBody(r); err != nil {
			if errors.Is(err, errOverBodyLimit) {
				// As the rules would: refused without reading further.
				return nil, nil, &types.Interruption{Status: http.StatusRequestEntityTooLarge, Action: "deny"}, nil
			}
			return nil, nil, nil, err
		}
	}
	for _, tx := range txs {
		if it := tx.Interruption(); it != nil {
			first = cmpInterruption(first, it)
			continue
		}
		if body != nil && tx.IsRequestBodyAccessible() {
			if err := body.Rewind(); err != nil {
				return body, rest, nil, err
			}
			it, _, err := tx.ReadRequestBodyFrom(body)
			if err != nil {
				return body, rest, nil, err
			}
			if it != nil {
				first = cmpInterruption(first, it)
				continue
			}
		}
		it, err := tx.ProcessRequestBody()
		if err != nil {
			return body, rest, nil, wafError{err}
		}
		if it != nil {
			first = cmpInterruption(first, it)
			if h.block {
				break
			}
		}
	}
	if body != nil {
		if err := body.Rewind(); err != nil {
			return body, rest, nil, err
		}
	}
	return body, rest, first, nil
}

// errOverBodyLimit is a request body longer than body_limit, in reject
// mode.
var errOverBodyLimit = errors.New("request body over the WAF's body_limit")

// readBody buffers the request body: whole, refusing one over the limit
// (by its Content-Length before reading, else as soon as it passes it);
// or, in partial mode, its first bodyLimit bytes, leaving the rest.
func (h *Handler) readBody(r *http.Request) (*buffer.Body, io.Reader, error) {
	if h.partial {
		body, err := h.opt.Spool.Fill(io.NopCloser(io.LimitReader(r.Body, h.bodyLimit)), false)
		if err != nil || body.Len() < h.bodyLimit {
			return body, nil, err
		}
		return body, r.Body, nil
	}
	if r.ContentLength >= h.bodyLimit {
		return nil, nil, errOverBodyLimit
	}
	body, err := h.opt.Spool.Fill(&cappedBody{r: r.Body, left: h.bodyLimit}, false)
	return body, nil, err
}

// cappedBody fails once more than its limit is read.
type cappedBody struct {
	r    io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errOverBodyLimit
	}
	return n, err
}

func (c *cappedBody) Close() error { return c.r.Close() }

// joinedBody is a request body inspected in part: the spooled part, then
// the rest from the client. Closing it closes neither (the handler closes
// the spooled part, the server the client's body).
type joinedBody struct{ io.Reader }

// Close does nothing.
func (joinedBody) Close() error { return nil }

func cmpInterruption(first, it *types.Interruption) *types.Interruption {
	if first == nil {
		return it
	}
	return first
}

// wafError is a failure inside Coraza, as opposed to one reading the
// client.
type wafError struct{ error }

func coraza500(err error) bool {
	_, ok := err.(wafError)
	return ok
}

func anyBodyAccess(txs []transaction) bool {
	for _, tx := range txs {
		if tx.IsRequestBodyAccessible() {
			return true
		}
	}
	return false
}

// startRequest gives a transaction the connection, the request line and
// the headers, and runs the request-headers phase.
func startRequest(tx types.Transaction, r *http.Request, info *reqinfo.Info) *types.Interruption {
	client, clientPort := info.ClientIP, 0
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if client == "" {
			client = host
		}
		if client == host {
			clientPort, _ = strconv.Atoi(port)
		}
	}
	serverPort, _ := strconv.Atoi(info.ServerPort)
	tx.ProcessConnection(client, clientPort, "", serverPort)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		tx.SetServerName(host)
	}
	for k, vv := range r.Header {
		if k == "Host" {
			// Already given, from r.Host (some front ends keep it in
			// the header map too).
			continue
		}
		for _, v := range vv {
			tx.AddRequestHeader(k, v)
		}
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	return tx.ProcessRequestHeaders()
}

// interruptionStatus is the status a blocked request gets: the rule's
// own (deny,status:N), else 403.
func interruptionStatus(it *types.Interruption) int {
	if it.Status >= 400 && it.Status <= 599 {
		return it.Status
	}
	return http.StatusForbidden
}
