// Package redirect answers requests with a redirect to a configured
// target, which may use placeholders ({host}, {uri}...) and the groups of
// the route's regex ($1, ${2}), and may keep the request's query.
package redirect

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

type handler struct {
	status    int
	to        placeholder.Template
	keepQuery bool
	location  []string // when the target is the same for every request
}

// New returns a handler that redirects every request to cfg's target (as
// validation parsed it).
func New(cfg config.Redirect) http.Handler {
	h := &handler{status: cfg.Status, to: cfg.Target, keepQuery: cfg.KeepQuery}
	if cfg.Target.Fixed() && !cfg.KeepQuery {
		h.location = []string{cfg.Target.Render(nil, nil, nil)}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if h.location != nil {
		hdr["Location"] = h.location
	} else {
		info := reqinfo.From(r.Context())
		var groups []string
		if info != nil {
			groups = info.Captures
		}
		to := h.to.Render(r, info, groups)
		if h.keepQuery && r.URL.RawQuery != "" {
			sep := "?"
			if strings.Contains(to, "?") {
				sep = "&"
			}
			to += sep + r.URL.RawQuery
		}
		hdr["Location"] = []string{to}
	}
	hdr["Content-Length"] = []string{"0"}
	w.WriteHeader(h.status)
}
