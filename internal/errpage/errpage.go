// Package errpage writes the responses Gatehouse generates itself (404, 502,
// 504, ...): a short HTML page that names the status and nothing else, no
// server name or version.
package errpage

import (
	"fmt"
	"net/http"
	"strconv"
)

// Pages is implemented by response writers that carry a site's own error
// pages (status to HTML).
type Pages interface {
	ErrorPage(status int) []byte
}

// Interceptor is implemented by response writers whose site replaces
// upstream error responses with its own pages.
type Interceptor interface {
	InterceptsError(status int) bool
}

// Write sends a generated error response with the given status: the
// site's own page for it when the writer carries one.
func Write(w http.ResponseWriter, status int) {
	var body []byte
	if p, ok := w.(Pages); ok {
		body = p.ErrorPage(status)
	}
	if body == nil {
		body = Page(status)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Page renders the HTML for status.
func Page(status int) []byte {
	text := StatusText(status)
	return fmt.Appendf(nil, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%d %s</title></head>\n<body><h1>%d %s</h1></body></html>\n", status, text, status, text)
}

// StatusText is http.StatusText with a name for the non-standard 499.
func StatusText(status int) string {
	if status == 499 {
		return "Client Closed Request"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// Forwarder gives a response writer that wraps another the wrapped one's
// error pages and interception, for embedding in such wrappers.
type Forwarder struct {
	// W is the wrapped writer.
	W http.ResponseWriter
}

// InterceptsError reports whether the wrapped writer's site replaces an
// upstream response with status by its own page.
func (f Forwarder) InterceptsError(status int) bool {
	ic, ok := f.W.(Interceptor)
	return ok && ic.InterceptsError(status)
}

// ErrorPage returns the wrapped writer's page for status, or nil.
func (f Forwarder) ErrorPage(status int) []byte {
	if p, ok := f.W.(Pages); ok {
		return p.ErrorPage(status)
	}
	return nil
}
