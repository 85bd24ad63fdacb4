// Package redirect answers requests with a redirect to a configured target,
// which may use the groups of the route's regex ($1, ${2}) and keep the
// request's query.
package redirect

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/tmpl"
)

type handler struct {
	status   int
	to       tmpl.Template
	location []string // when to has no group references
}

// New returns a handler that redirects every request to cfg.To.
func New(cfg config.Redirect) (http.Handler, error) {
	t, err := tmpl.Parse(cfg.To)
	if err != nil {
		return nil, fmt.Errorf("redirect.to: %w", err)
	}
	h := &handler{status: cfg.Status, to: t}
	if t.MaxGroup() == 0 {
		h.location = []string{t.Expand(nil)}
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if h.location != nil {
		hdr["Location"] = h.location
	} else {
		hdr["Location"] = []string{h.to.Expand(reqinfo.From(r.Context()).Captures)}
	}
	hdr["Content-Length"] = []string{"0"}
	w.WriteHeader(h.status)
}
