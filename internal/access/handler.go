package access

import (
	"net/http"
	"net/netip"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// Handler answers 403 (the site's page) to clients the list denies.
type Handler struct {
	list    *List
	next    http.Handler
	refused func()
}

// New wraps next in list; refused, when set, counts each refusal.
func New(list *List, next http.Handler, refused func()) *Handler {
	return &Handler{list: list, next: next, refused: refused}
}

// ServeHTTP checks the real client's address (a peer with no address,
// such as a unix socket peer, is checked as nothing and passes only
// when no entry denies everything).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr, err := netip.ParseAddr(reqinfo.From(r.Context()).ClientIP)
	if err != nil {
		addr = netip.IPv6Unspecified()
	}
	if h.list.Denied(addr) {
		if h.refused != nil {
			h.refused()
		}
		errpage.Write(w, http.StatusForbidden)
		return
	}
	h.next.ServeHTTP(w, r)
}
