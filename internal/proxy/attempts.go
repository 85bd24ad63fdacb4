package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/tracing"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// keepOpen is a buffered request body that the upstream client may close
// after each attempt without losing it: the proxy closes it at the end.
type keepOpen struct{ *buffer.Body }

// Close leaves the body for another attempt.
func (keepOpen) Close() error { return nil }

// unclosed is a streamed request body: the upstream client must not close
// it, so that it can still be sent after a failed connection attempt.
type unclosed struct{ io.Reader }

// Close does nothing: the front end closes the client's body.
func (unclosed) Close() error { return nil }

// maxAttempts bounds the attempts of one request whatever the config.
const maxAttempts = 8

// forward sends out to the pool's servers: one attempt, and more on other
// servers when the first fails in a way that is safe to retry, within the
// retry budget and deadline.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, out *upstream.Request, replayable bool) {
	rc := h.pool.Retries()
	h.pool.NoteRequest()
	now := time.Now()
	deadline := now.Add(rc.Timeout.Std())
	var triedBuf [maxAttempts]*pool.Server
	tried := triedBuf[:0]
	var lastErr error
	extra := len(out.Extra)
	for attempt := 0; ; attempt++ {
		srv, err := h.pool.Pick(r, info.ClientIP, tried)
		if err != nil {
			if lastErr == nil {
				// Every server is down: answer at once rather than wait
				// on timeouts.
				h.opt.Log.Warn("no upstream server available", "pool", h.pool.Name(), "request_id", info.ID)
				w.Header().Set("Retry-After", "10")
				h.writeError(w, http.StatusServiceUnavailable)
				return
			}
			h.fail(w, r, lastErr)
			return
		}
		tried = append(tried, srv)
		info.Upstream = srv.Endpoint
		if attempt > 0 {
			now = time.Now()
		}
		more := attempt+1 < min(rc.Tries, maxAttempts) && now.Before(deadline)

		srv.Acquire()
		span := h.traceAttempt(r, srv, out, extra)
		res, err := h.client.Do(r.Context(), srv.Addr, out)
		info.UpstreamTime = time.Since(now)
		if err != nil {
			span.End(0, err)
			if r.Context().Err() == nil {
				srv.Stats.Observe(0, info.UpstreamTime)
			}
			srv.Release()
			if r.Context().Err() == nil && !isClientBodyError(err) {
				h.pool.Failed(srv, err)
			}
			var se *upstream.SourceError
			if errors.As(err, &se) {
				info.BodyError = se.Err
			}
			clear(w.Header())
			lastErr = err
			if more && retryableError(r, err, replayable) && rewound(out) && h.pool.AllowRetry() {
				h.opt.Log.Info("retrying on another upstream server", "server", srv.Endpoint, "request_id", info.ID, "error", err)
				continue
			}
			h.fail(w, r, err)
			return
		}
		span.End(res.StatusCode, nil)
		srv.Stats.Observe(res.StatusCode, info.UpstreamTime)
		if h.pool.CountsAsFailure(res.StatusCode) {
			h.pool.Failed(srv, fmt.Errorf("status %d", res.StatusCode))
		}
		if (res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable) &&
			more && idempotent(r) && replayable && h.pool.HasUntried(tried) && rewound(out) && h.pool.AllowRetry() {
			// Nothing of this response has reached the client: drop it
			// and ask another server.
			_ = res.Body.Close()
			srv.Release()
			clear(w.Header())
			lastErr = fmt.Errorf("upstream answered %d", res.StatusCode)
			h.opt.Log.Info("retrying on another upstream server", "server", srv.Endpoint, "request_id", info.ID, "status", res.StatusCode)
			continue
		}
		body, err := h.buffered(w, r, res)
		if err != nil {
			// The server broke off its response before the end; the
			// client has seen nothing of it yet.
			srv.Release()
			if r.Context().Err() == nil {
				h.pool.Failed(srv, err)
			}
			clear(w.Header())
			lastErr = err
			if more && retryableError(r, err, replayable) && h.pool.HasUntried(tried) && rewound(out) && h.pool.AllowRetry() {
				h.opt.Log.Info("retrying on another upstream server", "server", srv.Endpoint, "request_id", info.ID, "error", err)
				continue
			}
			h.fail(w, r, err)
			return
		}
		if c := h.pool.StickyCookie(r, srv); c != "" {
			w.Header().Add("Set-Cookie", c)
		}
		h.respondFrom(srv, w, r, res, body)
		return
	}
}

// traceAttempt starts the span of an attempt to srv and sets the
// traceparent the upstream gets, after the first extra fields of out.
func (h *Handler) traceAttempt(r *http.Request, srv *pool.Server, out *upstream.Request, extra int) tracing.Attempt {
	if h.opt.Tracer == nil {
		return tracing.Attempt{}
	}
	span, parent, state := h.opt.Tracer.StartAttempt(r.Context(), r.Method, h.pool.Name(), srv.Endpoint)
	out.Extra = append(out.Extra[:extra], upstream.Field{Name: "Traceparent", Value: parent})
	if state != "" {
		out.Extra = append(out.Extra, upstream.Field{Name: "Tracestate", Value: state})
	}
	return span
}

// respondFrom sends the response of srv (its body already read when body
// is not nil), which stays counted as busy until the body is through (or
// the client is gone).
func (h *Handler) respondFrom(srv *pool.Server, w http.ResponseWriter, r *http.Request, res *http.Response, body *buffer.Body) {
	defer srv.Release()
	h.respondWith(w, r, res, body)
}

// retryableError reports whether a failed attempt may be made again on
// another server. A connection that could not be made never carried the
// request, so any request may go elsewhere (its streamed body is still
// unread). Once the request may have reached a server, only idempotent
// requests with a replayable body are sent again.
func retryableError(r *http.Request, err error, replayable bool) bool {
	if isClientBodyError(err) || r.Context().Err() != nil {
		return false
	}
	var ce *upstream.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return idempotent(r) && replayable
}

// isClientBodyError reports whether the attempt failed on the client's
// side (its body broke), which no other server can fix.
func isClientBodyError(err error) bool {
	var se *upstream.SourceError
	return errors.As(err, &se)
}

// idempotent reports whether r can safely be sent twice: by its method, or
// by an Idempotency-Key the client sent.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// rewound prepares out's body to be sent again from its start.
func rewound(out *upstream.Request) bool {
	if out.Body == nil || out.Body == http.NoBody {
		return true
	}
	if k, ok := out.Body.(keepOpen); ok {
		return k.Rewind() == nil
	}
	// A streamed body: only a connection failure (nothing read) gets
	// here; it is sent as it is.
	return true
}
