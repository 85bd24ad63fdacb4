package auth

import (
	"net/http"
	"strings"
)

// Strip deletes the identity headers Gatehouse sets from every request
// before anything else sees it, in every spelling an app server may read
// as the same name: any case, and _ for - (Gunicorn and other CGI-style
// servers fold X_Auth_User and X-Auth-User into one HTTP_X_AUTH_USER), so
// that no client can forge an identity, on routes that check none too.
type Strip struct {
	names map[string]bool
	// lengths has bit n set when a name is n bytes long (n < 64), so
	// that most fields are passed over without folding their name.
	lengths uint64
	long    bool // a name is 64 bytes or longer
	next    http.Handler
}

// NewStrip wraps next; names are the headers to delete.
func NewStrip(names []string, next http.Handler) *Strip {
	s := &Strip{names: map[string]bool{}, next: next}
	for _, n := range names {
		s.names[fold(n)] = true
		if len(n) < 64 {
			s.lengths |= 1 << len(n)
		} else {
			s.long = true
		}
	}
	return s
}

// fold is a header name as an app server may read it.
func fold(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func (s *Strip) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k := range r.Header {
		if len(k) < 64 && s.lengths&(1<<len(k)) == 0 || len(k) >= 64 && !s.long {
			continue
		}
		if s.names[fold(k)] {
			delete(r.Header, k)
		}
	}
	s.next.ServeHTTP(w, r)
}
