package auth

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// UserHeader carries the user basic auth admitted to the upstream.
const UserHeader = "X-Auth-User"

// Basic admits requests with the user and password of an htpasswd file
// (RFC 7617) and answers the rest 401 with a Basic challenge.
type Basic struct {
	pw              *Passwords
	challenge       string
	passCredentials bool
	failed          func()
	next            http.Handler
}

// NewBasic wraps next in basic auth against pw; failed, when set, counts
// the wrong credentials.
func NewBasic(pw *Passwords, realm string, passCredentials bool, failed func(), next http.Handler) *Basic {
	if realm == "" {
		realm = "restricted"
	}
	realm = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm)
	return &Basic{pw: pw, challenge: `Basic realm="` + realm + `", charset="UTF-8"`, passCredentials: passCredentials, failed: failed, next: next}
}

func (b *Basic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	if ok && b.pw.Check(r.Context(), reqinfo.From(r.Context()).ClientIP, user, password) {
		r.Header.Set(UserHeader, user)
		if !b.passCredentials {
			r.Header.Del("Authorization")
		}
		b.next.ServeHTTP(w, r)
		return
	}
	if ok && b.failed != nil {
		b.failed()
	}
	w.Header().Set("WWW-Authenticate", b.challenge)
	errpage.Write(w, http.StatusUnauthorized)
}
