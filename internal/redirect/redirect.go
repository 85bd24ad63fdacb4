// Package redirect answers requests with a redirect to a configured target.
package redirect

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/config"
)

type handler struct {
	status   int
	location []string
}

// New returns a handler that redirects every request to cfg.To.
func New(cfg config.Redirect) http.Handler {
	return &handler{status: cfg.Status, location: []string{cfg.To}}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Location"] = h.location
	hdr["Content-Length"] = []string{"0"}
	w.WriteHeader(h.status)
}
