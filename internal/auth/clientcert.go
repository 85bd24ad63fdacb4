package auth

import (
	"crypto/x509"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// ClientCert admits requests that came with a client certificate the
// handshake verified against the site's CAs (mutual TLS) and passes its
// subject and alternative names upstream. The handshake asks for the
// certificate (and, when required, refuses to go on without one); this
// also refuses requests that reached the site another way without one
// (plain HTTP, or a handshake for another site's name).
type ClientCert struct {
	required                   bool
	subjectHeader, namesHeader string
	failed                     func()
	next                       http.Handler
}

// NewClientCert wraps next; subjectHeader and namesHeader name the
// upstream headers of the subject's DN and of the SANs.
func NewClientCert(required bool, subjectHeader, namesHeader string, failed func(), next http.Handler) *ClientCert {
	return &ClientCert{required: required, subjectHeader: subjectHeader, namesHeader: namesHeader, failed: failed, next: next}
}

func (c *ClientCert) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		if c.required {
			if c.failed != nil {
				c.failed()
			}
			errpage.Write(w, http.StatusForbidden)
			return
		}
		c.next.ServeHTTP(w, r)
		return
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if c.subjectHeader != "" {
		r.Header.Set(c.subjectHeader, leaf.Subject.String())
	}
	if names := altNames(leaf); c.namesHeader != "" && names != "" {
		r.Header.Set(c.namesHeader, names)
	}
	c.next.ServeHTTP(w, r)
}

// altNames lists a certificate's subject alternative names, comma
// separated: DNS:, email:, URI:, IP: as OpenSSL writes them.
func altNames(c *x509.Certificate) string {
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, "DNS:"+n)
	}
	for _, n := range c.EmailAddresses {
		names = append(names, "email:"+n)
	}
	for _, u := range c.URIs {
		names = append(names, "URI:"+u.String())
	}
	for _, ip := range c.IPAddresses {
		names = append(names, "IP:"+ip.String())
	}
	return strings.Join(names, ", ")
}
