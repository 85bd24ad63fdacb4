// Package respond answers requests with a fixed status, body and headers
// configured on a route, without contacting any upstream.
package respond

import (
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/config"
)

// handler serves one precomputed response.
type handler struct {
	status int
	body   []byte
	header http.Header
}

// New returns a handler for cfg; headers are prepared once here.
func New(cfg config.Respond) http.Handler {
	h := &handler{status: cfg.Status, body: []byte(cfg.Body), header: http.Header{}}
	for k, v := range cfg.Headers {
		h.header.Set(k, v)
	}
	if len(h.body) > 0 && h.header.Get("Content-Type") == "" {
		h.header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	if bodyAllowed(h.status) {
		h.header.Set("Content-Length", strconv.Itoa(len(h.body)))
	} else {
		h.body = nil
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dst := w.Header()
	for k, v := range h.header {
		dst[k] = v
	}
	w.WriteHeader(h.status)
	if r.Method != http.MethodHead && len(h.body) > 0 {
		_, _ = w.Write(h.body)
	}
}

// bodyAllowed reports whether a response with status may carry a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
