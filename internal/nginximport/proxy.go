package nginximport

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// forwardingDefaults are proxy_set_header lines whose effect Gatehouse
// has by default (it passes the client's Host and sets X-Forwarded-*,
// X-Real-IP and Forwarded from what it saw itself).
var forwardingDefaults = map[string][]string{
	"host":              {"$http_host"},
	"x-real-ip":         {"$remote_addr"},
	"x-forwarded-for":   {"$proxy_add_x_forwarded_for", "$remote_addr"},
	"x-forwarded-proto": {"$scheme", "https"},
	"x-forwarded-host":  {"$host", "$http_host"},
	"connection":        {"", `""`, "$connection_upgrade", "upgrade", "close"},
	"upgrade":           {"$http_upgrade"},
}

// proxy maps proxy_pass and the proxy_* settings.
func (m *mapper) proxy(d *crossplane.Directive, r *node, l loc, s *scope) {
	target := d.Args[0]
	if strings.Contains(target, "$") {
		m.unsupported(d, "variables in proxy_pass; name the upstream or URL")
		r.set("respond", newMap()).set("status", num(502))
		return
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" {
		m.warn(d, "cannot read %q", target)
		r.set("respond", newMap()).set("status", num(502))
		return
	}
	p := newMap()
	host, uri := u.Host, u.Path
	if u.RawQuery != "" {
		uri += "?" + u.RawQuery
	}
	switch {
	case host == "unix:" || strings.HasPrefix(target, u.Scheme+"://unix:"):
		// http://unix:/path/to.sock:/uri
		rest := strings.TrimPrefix(target, u.Scheme+"://unix:")
		sock, after, _ := strings.Cut(rest, ":")
		p.set("to", str(u.Scheme+"://unix:"+sock))
		uri = after
	case m.upstreams[host]:
		m.schemes[host] = u.Scheme
		p.set("to", str(host))
	default:
		if !m.upstreamURL(d, u.Scheme+"://"+host, r) {
			return
		}
		p.set("to", str(u.Scheme+"://"+host))
	}
	if uri != "" {
		switch {
		case l.mod == "" || l.mod == "^~":
			// nginx replaces the location's prefix by the URI.
			rule := newMap()
			rule.set("from", str("^"+regexp.QuoteMeta(l.path)+"(.*)$"))
			rule.set("to", str(uri+"$1"))
			rules := r.get("rewrite")
			if rules == nil {
				rules = r.set("rewrite", newSeq())
			}
			rules.add(rule)
		case l.mod == "=":
			rules := r.set("rewrite", newSeq())
			rule := newMap()
			rule.set("from", str("^.*$"))
			rule.set("to", str(uri))
			rules.add(rule)
		default:
			m.warn(d, "a URI in proxy_pass under a regex location: left out")
		}
	}
	// $proxy_host: the upstream's name as proxy_pass wrote it, without
	// the default port.
	proxyHost := strings.TrimSuffix(host, ":80")
	if u.Scheme == "https" {
		proxyHost = strings.TrimSuffix(host, ":443")
	}
	if strings.HasPrefix(target, u.Scheme+"://unix:") {
		proxyHost = "localhost"
	}
	hostSet := false
	set := newMap()
	for _, h := range s.setHeaders {
		name := strings.ToLower(h.name)
		if name == "host" {
			hostSet = true
		}
		if defaults, ok := forwardingDefaults[name]; ok && contains(defaults, h.value) {
			continue
		}
		if header, ok := s.authVars[h.value]; ok && strings.EqualFold(header, h.name) {
			// forward auth's copy_headers sets it.
			continue
		}
		if name == "host" && (h.value == "$proxy_host" || h.value == "$proxy_host:$proxy_port") {
			set.set("Host", str(proxyHost))
			continue
		}
		if v, ok := m.headerValue(h); ok {
			set.set(h.name, str(v))
		}
	}
	if !hostSet {
		// nginx sends the upstream's name ($proxy_host) unless told
		// otherwise; Gatehouse passes the client's unless told otherwise.
		set.set("Host", str(proxyHost))
	}
	if !set.empty() {
		r.child("request_headers").set("set", set)
	}
	if len(s.hideHeaders) > 0 {
		p.set("hide_headers", strs(s.hideHeaders...))
	}
	if v, ok := duration(s.connect); ok {
		p.set("connect_timeout", str(v))
	}
	if v, ok := duration(s.read); ok {
		p.set("response_timeout", str(v))
		p.set("idle_timeout", str(v))
	}
	r.set("proxy", p)
	m.buffering(r, s)
	m.cache(r, s)
}

// buffering maps proxy_buffering and proxy_request_buffering.
func (m *mapper) buffering(r *node, s *scope) {
	if s.reqBuffering != nil && !*s.reqBuffering {
		r.child("buffer").set("request", boolean(false))
	}
	if s.buffering != nil && !*s.buffering {
		r.child("buffer").set("response", boolean(false))
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// gateway maps uwsgi_pass, scgi_pass, fastcgi_pass and grpc_pass.
func (m *mapper) gateway(d *crossplane.Directive, r *node, s *scope, fastcgi *node) {
	scheme := strings.TrimSuffix(d.Directive, "_pass")
	target := d.Args[0]
	if strings.Contains(target, "$") {
		m.unsupported(d, "variables in "+d.Directive)
		r.set("respond", newMap()).set("status", num(502))
		return
	}
	if scheme == "grpc" {
		if !strings.HasPrefix(target, "grpc://") && !strings.HasPrefix(target, "grpcs://") {
			target = "grpc://" + target
		}
		name := strings.TrimPrefix(strings.TrimPrefix(target, "grpcs://"), "grpc://")
		if m.upstreams[name] {
			m.schemes[name] = strings.SplitN(target, "://", 2)[0]
			target = name
		}
		if !m.upstreams[name] && !m.upstreamURL(d, target, r) {
			return
		}
		r.set("proxy", newMap()).set("to", str(target))
		return
	}
	if m.upstreams[target] {
		m.schemes[target] = scheme
		r.set("proxy", newMap()).set("to", str(target))
	} else {
		if !m.upstreamURL(d, scheme+"://"+target, r) {
			return
		}
		r.set("proxy", newMap()).set("to", str(scheme+"://"+target))
	}
	if scheme == "fastcgi" {
		if fastcgi.get("root") == nil {
			root := s.root
			if root == "" {
				// nginx's default root.
				root = m.path("html")
				m.warn(d, "no root: the scripts are taken from %s, nginx's default", root)
			}
			fastcgi.set("root", str(root))
		}
		if !fastcgi.empty() {
			r.set("fastcgi", fastcgi)
		}
	}
	m.buffering(r, s)
}

// fastcgiParam maps the fastcgi_param lines that differ from what
// Gatehouse sends by default.
func (m *mapper) fastcgiParam(d *crossplane.Directive, fastcgi *node) {
	name, v := d.Args[0], ""
	if len(d.Args) > 1 {
		v = d.Args[1]
	}
	switch name {
	case "SCRIPT_FILENAME":
		if root, ok := strings.CutSuffix(v, "$fastcgi_script_name"); ok && root != "$document_root" && root != "$realpath_root" && !strings.Contains(root, "$") {
			fastcgi.set("root", str(m.path(root)))
		}
		return
	}
	switch name {
	case "GATEWAY_INTERFACE", "REDIRECT_STATUS", "SERVER_SOFTWARE":
		// Gatehouse sends these itself.
		return
	}
	if strings.Contains(v, "$") {
		// The standard parameters (fastcgi_params) carry nginx's
		// variables; Gatehouse sends those parameters itself.
		return
	}
	fastcgi.child("params").set(name, str(v))
}

// static maps root/alias, index, autoindex and try_files to a static
// handler.
func (m *mapper) static(r *node, s *scope, try *crossplane.Directive, l loc) {
	st := newMap()
	root := s.root
	if s.alias != "" {
		root = s.alias
		if l.mod == "" || l.mod == "^~" {
			// The location's prefix is replaced by the alias directory.
			rules := r.set("rewrite", newSeq())
			rule := newMap()
			rule.set("from", str("^"+regexp.QuoteMeta(l.path)+"(.*)$"))
			rule.set("to", str("/$1"))
			rules.add(rule)
		} else {
			m.warn(s.rootAt, "alias under an exact or regex location is not carried over")
		}
	}
	st.set("root", str(root))
	var index []string
	for _, i := range s.index {
		// A script is never sent as a file.
		if !strings.HasSuffix(i, ".php") {
			index = append(index, i)
		}
	}
	if len(index) > 0 {
		st.set("index", strs(index...))
	}
	if s.autoindex {
		st.set("browse", boolean(true))
	}
	if try != nil {
		var entries []string
		for i, a := range try.Args {
			last := i == len(try.Args)-1
			switch {
			case a == "$uri" || a == "$uri/":
				entries = append(entries, a)
			case last && a == "=404":
				// Gatehouse's default for a missing file.
			case last && strings.HasPrefix(a, "="):
				if code, err := strconv.Atoi(a[1:]); err == nil && code >= 100 && code <= 599 {
					entries = append(entries, a)
				} else {
					m.warn(try, "the final %s is not carried over", a)
				}
			case last && strings.HasPrefix(a, "@"):
				entries = append(entries, "@"+routeName(a[1:]))
			case strings.HasPrefix(a, "/") && !strings.Contains(a, "$"):
				entries = append(entries, a)
			default:
				m.warn(try, "the entry %s is not carried over", a)
			}
		}
		if len(entries) > 0 && !(len(entries) <= 2 && entries[0] == "$uri" && (len(entries) == 1 || entries[1] == "$uri/")) {
			st.set("try", strs(entries...))
		}
	}
	r.set("static", st)
}

// upstreamURL reports whether Gatehouse reads target as an upstream URL;
// if not, it warns and makes r answer 502, as nginx would find nothing
// there either.
func (m *mapper) upstreamURL(d *crossplane.Directive, target string, r *node) bool {
	if _, err := config.ParseUpstreamURL(target); err != nil {
		m.warn(d, "cannot carry over %q: %v; the route answers 502", d.Args[0], err)
		r.set("respond", newMap()).set("status", num(502))
		return false
	}
	return true
}
