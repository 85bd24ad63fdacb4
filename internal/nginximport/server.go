package nginximport

import (
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// site is a server block mapped, with what choosing the default server
// of each address needs to know.
type site struct {
	out       *node
	listens   []string
	https     bool
	names     []string
	isDefault bool
	at        *crossplane.Directive
}

// listenAddr maps a listen directive to a Gatehouse listen address.
func (m *mapper) listenAddr(d *crossplane.Directive, forceSSL bool) (addr string, ssl, isDefault, ok bool) {
	a := d.Args[0]
	ssl = forceSSL
	proxyProtocol := false
	for _, p := range d.Args[1:] {
		switch {
		case p == "ssl":
			ssl = true
		case p == "default_server" || p == "default":
			isDefault = true
		case p == "proxy_protocol":
			proxyProtocol = true
		case p == "http2" || p == "reuseport" || p == "deferred" || p == "fastopen" || strings.HasPrefix(p, "backlog=") ||
			strings.HasPrefix(p, "ipv6only=") || strings.HasPrefix(p, "so_keepalive="):
		case p == "quic":
			m.warn(d, "quic: HTTP/3 is served on every https listener's UDP port already")
		default:
			m.warn(d, "the parameter %s is not carried over", p)
		}
	}
	switch {
	case strings.HasPrefix(a, "unix:"):
		addr = a
	case !strings.Contains(a, ":") || strings.HasPrefix(a, "*:"):
		port := strings.TrimPrefix(a, "*:")
		if net.ParseIP(port) != nil || strings.Contains(port, ".") {
			addr = port + ":80" // an address alone: port 80
		} else {
			addr = ":" + port
		}
	case strings.HasPrefix(a, "[::]:"):
		addr = ":" + strings.TrimPrefix(a, "[::]:")
	default:
		addr = a
	}
	scheme := "http://"
	if ssl {
		scheme = "https://"
	}
	if proxyProtocol {
		scheme = "proxy+" + scheme
	}
	return scheme + addr, ssl, isDefault, true
}

// hostNames maps server_name arguments to Gatehouse host names.
func (m *mapper) hostNames(d *crossplane.Directive) []string {
	var out []string
	for _, n := range d.Args {
		switch {
		case n == "_" || n == "" || n == `""`:
		case strings.HasPrefix(n, "~"):
			m.warn(d, "the regex name %s is not carried over: list the names, or use a \"*.\" wildcard", n)
		case strings.HasPrefix(n, ".") && config.ValidHost(strings.ToLower(n[1:])) == nil:
			out = append(out, strings.ToLower(n[1:]), "*"+strings.ToLower(n))
		case strings.HasSuffix(n, ".*"):
			m.warn(d, "the name %s (a wildcard at the end) is not carried over: list the names", n)
		case config.ValidHost(strings.ToLower(n)) != nil:
			m.warn(d, "the name %q is not carried over: %v", n, config.ValidHost(strings.ToLower(n)))
		case strings.HasPrefix(n, "*.") || !strings.Contains(n, "*"):
			out = append(out, strings.ToLower(n))
		default:
			m.warn(d, "the name %s is not carried over: Gatehouse takes exact names and leading \"*.\" wildcards", n)
		}
	}
	return out
}

// server maps a server block to a site.
func (m *mapper) server(d *crossplane.Directive, parent *scope) *site {
	s := parent.inherit()
	st := &site{out: newMap(), at: d}
	st.out.note(m.from(d))
	var listens []*crossplane.Directive
	var locations, rewrites []*crossplane.Directive
	var ret *crossplane.Directive
	var cert, key string
	var errorPages []*crossplane.Directive
	sslOn := false
	for _, c := range d.Block {
		if m.apply(s, c) {
			continue
		}
		switch c.Directive {
		case "listen":
			listens = append(listens, c)
		case "server_name":
			st.names = append(st.names, m.hostNames(c)...)
		case "ssl_certificate":
			cert = m.path(c.Args[0])
		case "ssl_certificate_key":
			key = m.path(c.Args[0])
		case "ssl":
			sslOn = c.Args[0] == "on"
		case "ssl_protocols":
			m.sslProtocols(c)
		case "location":
			locations = append(locations, c)
		case "return":
			ret = c
		case "rewrite":
			rewrites = append(rewrites, c)
		case "access_log":
			m.warn(c, "access logs are per process in Gatehouse: this server's is not carried over")
		case "error_page":
			errorPages = append(errorPages, c)
		default:
			if !quiet[c.Directive] {
				m.unsupported(c, "no Gatehouse equivalent at the server level")
			}
		}
	}
	seen := map[string]bool{}
	for _, l := range listens {
		addr, ssl, isDefault, ok := m.listenAddr(l, sslOn)
		if !ok || seen[addr] {
			continue
		}
		if _, err := config.ParseListen(addr); err != nil {
			m.warn(l, "cannot carry over %q: %v", l.Args[0], err)
			continue
		}
		seen[addr] = true
		st.listens = append(st.listens, addr)
		st.https = st.https || ssl
		st.isDefault = st.isDefault || isDefault
	}
	if len(st.listens) == 0 {
		st.listens = []string{"http://:80"} // nginx's default (when run as root)
	}
	st.out.set("listen", strs(st.listens...))
	if len(st.names) > 0 {
		st.out.set("hosts", strs(dedupe(st.names)...))
	}
	m.serverMaxBody, m.serverGzip = s.maxBody, s.gzip
	if s.maxBody != "" && s.maxBody != m.httpMaxBody {
		if v, ok := size(s.maxBody); ok {
			if v == "0" {
				v = "1TB" // nginx: no limit
			}
			st.out.set("max_body_size", str(v))
		}
	}
	if s.gzip {
		st.out.set("compress", strs("gzip"))
	}
	m.serverLimits = s.limitReqs
	if len(s.limitReqs) > 0 {
		st.out.set("rate_limit", m.rateLimits(s.limitReqs, s.limitStatus))
	}
	m.connLimit(s.limitConns, st.out)
	wildcard := false
	for _, n := range st.names {
		wildcard = wildcard || strings.HasPrefix(n, "*.")
	}
	if st.https && (cert == "" || key == "") && (len(st.names) == 0 || wildcard) {
		// Neither a certificate nor names ACME can get one for.
		m.warn(d, "ssl listeners without ssl_certificate and ssl_certificate_key, and no names ACME can get a certificate for (none, or a wildcard): left out")
		var plain []string
		for _, l := range st.listens {
			if !strings.Contains(l, "https://") {
				plain = append(plain, l)
			}
		}
		if len(plain) == 0 {
			return nil
		}
		st.listens, st.https = plain, false
		st.out.set("listen", strs(plain...))
	}
	if st.https {
		tls := st.out.child("tls")
		if cert == "" || key == "" {
			m.warn(d, "an ssl listener without ssl_certificate and ssl_certificate_key: Gatehouse will get a certificate by ACME for the hosts")
			tls.set("acme", newMap())
		} else {
			tls.set("cert", str(cert))
			tls.set("key", str(key))
		}
	}
	m.errorPages(errorPages, s, st.out)
	routes := newSeq()
	if ret != nil {
		if len(locations) > 0 {
			m.warn(ret, "a server-level return answers every request: the server's locations are left out")
		}
		routes.add(m.returnRoute(ret, "/", s))
	} else {
		for _, r := range rewrites {
			m.serverRewrite(r, s, routes)
		}
		m.locations(locations, s, routes, false)
		if s.root != "" && !hasCatchAll(routes) {
			// Requests no location takes are served from the server's root.
			r := newMap()
			r.set("path", str("/"))
			r.note("requests no location takes: nginx serves them from the server's root")
			m.static(r, s, nil, loc{mod: "", path: "/"})
			routes.add(r)
		}
	}
	if len(routes.items) == 0 {
		m.warn(d, "a server with no location, return or root: it answers 404")
		r := newMap()
		r.set("path", str("/"))
		r.set("respond", newMap()).set("status", num(404))
		routes.add(r)
	}
	st.out.set("routes", routes)
	return st
}

// hasCatchAll reports whether routes hold the prefix route "/".
func hasCatchAll(routes *node) bool {
	for _, r := range routes.items {
		if p := r.get("path"); p != nil && p.scalar == "/" {
			return true
		}
	}
	return false
}

func dedupe(list []string) []string {
	var out []string
	for _, v := range list {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// defaults makes each listen address's default server (the one marked
// default_server, else the first) a site without hosts, which Gatehouse
// takes as the default of its listeners: it gets every Host no other
// site claims, its own names included. It returns the sites left.
func (m *mapper) defaults(sites []*site) []*site {
	byAddr := map[string]*site{}
	for _, st := range sites {
		for _, a := range st.listens {
			if st.isDefault || byAddr[a] == nil {
				if prev := byAddr[a]; prev == nil || !prev.isDefault {
					byAddr[a] = st
				}
			}
		}
	}
	// A server without names that is not an address's default never
	// answers there (Gatehouse allows one site without hosts per
	// listener).
	var kept []*site
	for _, st := range sites {
		if len(st.names) == 0 {
			var listens []string
			for _, a := range st.listens {
				if byAddr[a] == st {
					listens = append(listens, a)
				} else {
					m.warn(st.at, "a server without names that is not the default of %s never answers there: left out of it", a)
				}
			}
			if len(listens) == 0 {
				continue
			}
			st.listens = listens
			st.out.set("listen", strs(listens...))
		}
		kept = append(kept, st)
	}
	sites = kept
	for _, st := range sites {
		defaultOn := 0
		for _, a := range st.listens {
			if byAddr[a] == st {
				defaultOn++
			}
		}
		acme := st.out.get("tls") != nil && st.out.get("tls").get("acme") != nil
		switch {
		case defaultOn == 0 || len(st.names) == 0:
		case acme:
			m.warn(st.at, "the default server keeps its names: ACME gets its certificate for them (other names get 404 here)")
		case defaultOn == len(st.listens):
			// Only one default per listener: a site already without
			// hosts there stays the default.
			st.out.keys, st.out.vals = without(st.out.keys, st.out.vals, "hosts")
			st.out.note("the default server of its listeners (nginx's default_server, or the first): no hosts, so it answers every name no other site claims")
		default:
			m.warn(st.at, "the default server of only some of its listen addresses: it keeps its names (Gatehouse's default site is one without hosts)")
		}
	}
	return sites
}

// without drops key from a mapping's keys and values.
func without(keys []string, vals []*node, key string) ([]string, []*node) {
	for i, k := range keys {
		if k == key {
			return append(keys[:i:i], keys[i+1:]...), append(vals[:i:i], vals[i+1:]...)
		}
	}
	return keys, vals
}

// errorPages maps server-level error_page lines whose page is a file
// under the server's root to the site's error_pages (for Gatehouse's own
// errors, as nginx's apply to its own unless proxy_intercept_errors).
func (m *mapper) errorPages(ds []*crossplane.Directive, s *scope, out *node) {
	for _, d := range ds {
		uri := d.Args[len(d.Args)-1]
		if !strings.HasPrefix(uri, "/") || s.root == "" {
			m.warn(d, "only error pages that are files under the server's root are carried over")
			continue
		}
		pages := out.child("error_pages")
		for _, code := range d.Args[:len(d.Args)-1] {
			if strings.HasPrefix(code, "=") {
				m.warn(d, "the status change %s is not carried over", code)
				continue
			}
			pages.set(code, str(filepath.Join(s.root, uri)))
		}
	}
}
