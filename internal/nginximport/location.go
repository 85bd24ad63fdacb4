package nginximport

import (
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// loc is a location block with the scope it inherits.
type loc struct {
	d           *crossplane.Directive
	mod, path   string
	parent      *scope
	nestedRegex bool
}

// collect flattens locations (nested ones too) in file order.
func (m *mapper) collect(ds []*crossplane.Directive, parent *scope, nested bool, out *[]loc) {
	for _, d := range ds {
		mod, path := "", ""
		switch len(d.Args) {
		case 1:
			path = d.Args[0]
			if strings.HasPrefix(path, "=") && len(path) > 1 {
				mod, path = "=", path[1:]
			}
		case 2:
			mod, path = d.Args[0], d.Args[1]
		}
		l := loc{d: d, mod: mod, path: path, parent: parent, nestedRegex: nested && (mod == "~" || mod == "~*")}
		*out = append(*out, l)
		// Nested locations inherit from this one.
		s := parent.inherit()
		var inner []*crossplane.Directive
		for _, c := range d.Block {
			if c.Directive == "location" {
				inner = append(inner, c)
				continue
			}
			m.apply(s, c)
		}
		if len(inner) > 0 {
			m.collect(inner, s, true, out)
		}
	}
}

// locations maps a server's locations to routes, ordered so that
// Gatehouse's precedence (exact, then the first regex in order, then the
// longest prefix) picks what nginx's would: a "^~" prefix, which beats
// regexes in nginx, becomes a regex placed before the others, the
// longest first.
func (m *mapper) locations(ds []*crossplane.Directive, parent *scope, routes *node, _ bool) {
	var all []loc
	m.collect(ds, parent, false, &all)
	m.serverLocs = all
	// Locations only an auth_request asks are not routes: Gatehouse asks
	// the auth service itself.
	authURIs := map[string]bool{}
	if parent.authRequest != "" {
		authURIs[parent.authRequest] = true
	}
	for _, l := range all {
		for _, c := range l.d.Block {
			if c.Directive == "auth_request" && c.Args[0] != "off" {
				authURIs[c.Args[0]] = true
			}
		}
	}
	var routed []loc
	for _, l := range all {
		if authURIs[l.path] && contains(directiveNames(l.d.Block), "internal") {
			continue
		}
		routed = append(routed, l)
	}
	all = routed
	var exact, stops, regexes, prefixes, named []loc
	for _, l := range all {
		if (l.mod == "" || l.mod == "=" || l.mod == "^~") && !strings.HasPrefix(l.path, "/") && !strings.HasPrefix(l.path, "@") {
			m.warn(l.d, "the location %q does not start with /: no request path matches it; left out", l.path)
			continue
		}
		switch l.mod {
		case "=":
			exact = append(exact, l)
		case "^~":
			stops = append(stops, l)
		case "~", "~*":
			// Gatehouse reads the regex with surrounding spaces trimmed.
			if _, err := regexp.Compile(strings.TrimSpace(l.path)); err != nil || strings.TrimSpace(l.path) == "" {
				m.warn(l.d, "the regex %q is not RE2 (Gatehouse's regex syntax: no lookarounds or backreferences): location left out", l.path)
				continue
			}
			if l.nestedRegex {
				m.warn(l.d, "a nested regex location is checked in file order with the others (nginx checks those nested in the matched prefix first)")
			}
			regexes = append(regexes, l)
		case "":
			if strings.HasPrefix(l.path, "@") {
				named = append(named, l)
				continue
			}
			prefixes = append(prefixes, l)
		default:
			m.warn(l.d, "the modifier %q is not carried over", l.mod)
		}
	}
	sort.SliceStable(stops, func(i, j int) bool { return len(stops[i].path) > len(stops[j].path) })
	for _, st := range stops {
		for _, p := range prefixes {
			if len(p.path) > len(st.path) && strings.HasPrefix(p.path, st.path) && len(regexes) > 0 {
				m.warn(p.d, "under the \"^~ %s\" location this longer prefix gives way to it in Gatehouse (in nginx, its requests go on to the regex locations)", st.path)
			}
		}
	}
	// The PHP location (a regex one that passes to FastCGI), which a
	// try_files ending in a script hands requests to.
	m.php, m.phpRoute = nil, nil
	for _, l := range regexes {
		for _, c := range l.d.Block {
			if c.Directive == "fastcgi_pass" && m.php == nil {
				l := l
				m.php = &l
			}
		}
	}
	if m.php != nil {
		m.phpRoute = m.location(*m.php)
	}
	seen := map[string]bool{}
	for _, group := range [][]loc{exact, stops, regexes, prefixes, named} {
		for _, l := range group {
			if key := l.mod + " " + l.path; seen[key] {
				m.warn(l.d, "a second location %q (nginx refuses duplicates): left out", l.path)
				continue
			} else {
				seen[key] = true
			}
			r := m.phpRoute
			if m.php == nil || l.d != m.php.d {
				r = m.location(l)
			}
			if r != nil {
				routes.add(r)
			}
		}
	}
}

// routePath is the Gatehouse path of a location.
func routePath(l loc) string {
	switch l.mod {
	case "=":
		return "= " + l.path
	case "^~":
		return "~ ^" + regexp.QuoteMeta(l.path)
	case "~", "~*":
		return l.mod + " " + l.path
	}
	return l.path
}

// location maps one location to a route.
func (m *mapper) location(l loc) *node {
	s := l.parent.inherit()
	r := newMap()
	r.note(m.from(l.d))
	r.set("path", str(routePath(l)))
	var pass, gateway, ret, try *crossplane.Directive
	var rewrites []*crossplane.Directive
	fastcgi := newMap()
	for _, c := range l.d.Block {
		if m.apply(s, c) {
			continue
		}
		switch c.Directive {
		case "location":
			// Flattened by collect.
		case "proxy_pass":
			pass = c
		case "uwsgi_pass", "scgi_pass", "fastcgi_pass", "grpc_pass":
			gateway = c
		case "return":
			ret = c
		case "rewrite":
			rewrites = append(rewrites, c)
		case "try_files":
			try = c
		case "fastcgi_index":
			fastcgi.set("index", str(c.Args[0]))
		case "fastcgi_split_path_info":
			fastcgi.set("split_path", str(c.Args[0]))
		case "fastcgi_param":
			m.fastcgiParam(c, fastcgi)
		case "internal":
			m.warn(c, "internal locations are not supported: this one answers clients too")
		case "if":
			m.unsupported(c, "no if blocks: a route is the condition; split this into routes")
		case "limit_except":
			m.unsupported(c, "restrict methods with the WAF or at the app")
		case "error_page":
			m.warn(c, "per-location error pages are not carried over: Gatehouse's error_pages are per site (status → HTML file)")
		default:
			if !quiet[c.Directive] {
				m.unsupported(c, "no Gatehouse equivalent in a location")
			}
		}
	}
	for _, rw := range rewrites {
		m.locationRewrite(rw, r, l)
	}
	switch {
	case try != nil && pass == nil && gateway == nil && m.frontController(r, s, try):
	case ret != nil:
		rewrites := r.get("rewrite")
		r = m.returnRoute(ret, routePath(l), s)
		if rewrites != nil {
			m.warn(ret, "the location's rewrites do not reach its return")
		}
	case pass != nil:
		m.proxy(pass, r, l, s)
	case gateway != nil:
		m.gateway(gateway, r, s, fastcgi)
	case s.root != "" || s.alias != "":
		m.static(r, s, try, l)
	default:
		m.warn(l.d, "a location with no proxy_pass, return, root or alias: it answers 404")
		r.set("respond", newMap()).set("status", num(404))
	}
	m.common(r, s, l)
	if name, ok := strings.CutPrefix(l.path, "@"); ok && l.mod == "" {
		// A named location: reached only from try lists.
		for i, k := range r.keys {
			if k == "path" {
				r.keys[i], r.vals[i] = "name", str(routeName(name))
			}
		}
	}
	return r
}

// routeName is an nginx location name as a Gatehouse route name
// (letters, digits, - and _).
func routeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// common adds what every kind of route takes from the scope: headers,
// expires, body size, access lists and basic auth.
func (m *mapper) common(r *node, s *scope, l loc) {
	if s.maxBody != "" && s.maxBody != m.serverMaxBody {
		if v, ok := size(s.maxBody); ok {
			if v == "0" {
				v = "1TB" // nginx: no limit
			}
			r.set("max_body_size", str(v))
		}
	}
	if len(s.addHeaders) > 0 {
		set := newMap()
		for _, h := range s.addHeaders {
			if v, ok := m.headerValue(h); ok {
				set.set(h.name, str(v))
			}
		}
		if !set.empty() {
			r.child("headers").set("set", set)
		}
	}
	if s.expires != "" {
		switch v, ok := duration(s.expires); {
		case s.expires == "off":
		case s.expires == "max":
			r.set("expires", str("3650d"))
		case ok:
			r.set("expires", str(v))
		default:
			m.warn(s.expiresAt, "the value %q is not carried over (Gatehouse takes a duration or off)", s.expires)
		}
	}
	if len(s.access) > 0 {
		m.access(r, s)
	}
	if len(s.limitReqs) > 0 && (len(m.serverLimits) == 0 || s.limitReqs[0].at != m.serverLimits[0].at) {
		// The location's own limits replace the server's, as in nginx.
		r.set("rate_limit", m.rateLimits(s.limitReqs, s.limitStatus))
	}
	if s.ownLimitConns {
		m.warn(s.limitConns[0], "connection limits are per site in Gatehouse: this location's is left out")
	}
	if s.authRequest != "" && s.authRequest != "off" {
		m.authRequest(r, s)
	} else if s.authRealm != "" && s.authRealm != "off" {
		if s.authFile == "" {
			m.warn(l.d, "auth_basic without auth_basic_user_file: left out")
		} else {
			basic := r.child("auth").child("basic")
			basic.set("users_file", str(s.authFile))
			basic.set("realm", str(s.authRealm))
		}
	}
	switch {
	case s.gzip && !m.serverGzip:
		r.set("compress", strs("gzip"))
	case !s.gzip && m.serverGzip:
		r.set("compress", newSeq())
	}
}

// access maps allow/deny lists; Gatehouse checks the allow list, then the
// deny list (or the other way round, in the order written), so an nginx
// list that interleaves them is approximated.
func (m *mapper) access(r *node, s *scope) {
	a := newMap()
	var allow, deny []string
	switches := 0
	var rules []accessRule
	for _, rule := range s.access {
		if _, err := config.ParsePrefix(rule.addr); err != nil && rule.addr != "all" && rule.addr != "unix:" {
			m.warn(rule.at, "%q is not an address or CIDR: left out", rule.addr)
			continue
		}
		rules = append(rules, rule)
	}
	if len(rules) == 0 {
		return
	}
	for i, rule := range rules {
		if i > 0 && rule.allow != rules[i-1].allow {
			switches++
		}
		if rule.allow {
			allow = append(allow, rule.addr)
		} else {
			deny = append(deny, rule.addr)
		}
	}
	if switches > 1 {
		m.warn(rules[0].at, "allow and deny interleave: Gatehouse checks one list, then the other")
	}
	lists := [][2]any{{"allow", allow}, {"deny", deny}}
	if !rules[0].allow {
		lists[0], lists[1] = lists[1], lists[0]
	}
	for _, kv := range lists {
		if l := kv[1].([]string); len(l) > 0 {
			a.set(kv[0].(string), strs(l...))
		}
	}
	r.set("access", a)
}

// returnRoute maps a return directive to a redirect or respond route.
func (m *mapper) returnRoute(d *crossplane.Directive, path string, s *scope) *node {
	r := newMap()
	r.note(m.from(d))
	r.set("path", str(path))
	code, text := 302, ""
	if n, err := strconv.Atoi(d.Args[0]); err == nil {
		code = n
		if len(d.Args) > 1 {
			text = d.Args[1]
		}
	} else {
		text = d.Args[0]
	}
	switch {
	case code < 100 || code > 599:
		m.warn(d, "%d is not an HTTP status: answered 500", code)
		r.set("respond", newMap()).set("status", num(500))
	case code == 444:
		m.warn(d, "444 (close without answering) becomes 403")
		r.set("respond", newMap()).set("status", num(403))
	case (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) && (text == "" || strings.ContainsAny(text, "\r\n\x00")):
		m.warn(d, "an empty target, or a control character in it: answered 500")
		r.set("respond", newMap()).set("status", num(500))
	case code == 301 || code == 302 || code == 303 || code == 307 || code == 308:
		to, bad := target(text, groupCount(path))
		if bad != "" {
			m.warn(d, "the variable %s has no Gatehouse placeholder: the redirect goes to %q; edit it", bad, text)
			to = strings.ReplaceAll(braces(text), "$", "$$")
		}
		if to == "" {
			m.warn(d, "the target is empty here: answered 500")
			r.set("respond", newMap()).set("status", num(500))
			break
		}
		red := r.set("redirect", newMap())
		red.set("to", str(to))
		red.set("status", num(code))
	default:
		resp := r.set("respond", newMap())
		resp.set("status", num(code))
		if text != "" && s != nil && s.defaultType != "" && s.defaultType != "text/plain" {
			// nginx types a returned text with default_type.
			resp.set("headers", newMap()).set("Content-Type", str(s.defaultType))
		}
		if text != "" {
			if _, bad := value(text); bad != "" || strings.Contains(text, "$") {
				m.warn(d, "variables in a returned body are written as they are")
			}
			resp.set("body", str(text))
		}
	}
	return r
}

// locationRewrite maps a rewrite inside a location: a redirect flag, or
// a replacement that is a URL, becomes a redirect of the route (when the
// route has nothing else to do) and otherwise a rewrite rule of it.
func (m *mapper) locationRewrite(d *crossplane.Directive, r *node, l loc) {
	from, to, flag, re, ok := m.rewriteArgs(d)
	if !ok {
		return
	}
	mapped, bad := target(to, re.NumSubexp())
	if bad != "" {
		m.unsupported(d, "the replacement uses "+bad+"; a rewrite's replacement takes only the regex's groups")
		return
	}
	if strings.Contains(mapped, "{") {
		m.unsupported(d, "the replacement uses variables; a rewrite's replacement takes only the regex's groups")
		return
	}
	to = strings.NewReplacer("{{", "{", "}}", "}").Replace(mapped)
	if to == "" {
		m.warn(d, "the replacement is empty here: left out")
		return
	}
	if flag == "redirect" || flag == "permanent" || strings.HasPrefix(to, "http://") || strings.HasPrefix(to, "https://") {
		m.warn(d, "a redirecting rewrite inside a location is not carried over: write it as a route with a redirect (path \"~ %s\")", from)
		return
	}
	if flag == "last" {
		m.warn(d, "last: Gatehouse rewrites the path but keeps the route chosen (nginx's break); it does not route again")
	}
	rules := r.get("rewrite")
	if rules == nil {
		rules = r.set("rewrite", newSeq())
	}
	rule := newMap()
	rule.set("from", str(from))
	rule.set("to", str(to))
	rules.add(rule)
}

// serverRewrite maps a server-level rewrite: a redirecting one becomes a
// regex route that redirects (placed before the location routes).
func (m *mapper) serverRewrite(d *crossplane.Directive, s *scope, routes *node) {
	from, to, flag, re, ok := m.rewriteArgs(d)
	if !ok {
		return
	}
	redirect := flag == "redirect" || flag == "permanent" || strings.HasPrefix(to, "http://") || strings.HasPrefix(to, "https://")
	if !redirect {
		m.unsupported(d, "a server-level rewrite that is not a redirect changes the path before a location is chosen; Gatehouse rewrites after the route is chosen: move it into the routes")
		return
	}
	mapped, bad := target(to, re.NumSubexp())
	if bad != "" {
		m.unsupported(d, "the variable "+bad+" has no Gatehouse placeholder")
		return
	}
	r := newMap()
	r.note(m.from(d))
	r.set("path", str("~ "+from))
	status := 302
	if flag == "permanent" {
		status = 301
	}
	red := r.set("redirect", newMap())
	// nginx appends the request's arguments, unless the replacement ends
	// with "?".
	if trimmed, ok := strings.CutSuffix(mapped, "?"); ok {
		red.set("to", str(trimmed))
	} else {
		red.set("to", str(mapped))
		red.set("keep_query", boolean(true))
	}
	red.set("status", num(status))
	m.common(r, s, loc{d: d})
	routes.add(r)
}

// frontController maps a try_files whose last entry is a script the PHP
// location runs (WordPress's `try_files $uri $uri/ /index.php?$args`) to
// a FastCGI route with fastcgi.try, borrowing the PHP location's proxy
// and fastcgi settings; it reports whether it did.
func (m *mapper) frontController(r *node, s *scope, try *crossplane.Directive) bool {
	if m.php == nil || m.phpRoute == nil || len(try.Args) < 2 {
		return false
	}
	last, _, _ := strings.Cut(try.Args[len(try.Args)-1], "?")
	expr := m.php.path
	if m.php.mod == "~*" {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil || !strings.HasPrefix(last, "/") || !re.MatchString(last) {
		return false
	}
	proxy, fastcgi := m.phpRoute.get("proxy"), m.phpRoute.get("fastcgi")
	if proxy == nil || fastcgi == nil {
		return false
	}
	f := newMap()
	f.keys, f.vals = append([]string(nil), fastcgi.keys...), append([]*node(nil), fastcgi.vals...)
	index := "index.php"
	for _, i := range s.index {
		if path.Ext(i) == path.Ext(last) {
			index = i
			break
		}
	}
	f.set("index", str(index))
	var entries []string
	for _, a := range try.Args[:len(try.Args)-1] {
		switch {
		case a == "$uri" || a == "$uri/":
			entries = append(entries, a)
		case strings.HasPrefix(a, "/") && !strings.Contains(a, "$"):
			entries = append(entries, a)
		default:
			m.warn(try, "the entry %s is not carried over", a)
		}
	}
	f.set("try", strs(append(entries, last)...))
	r.set("proxy", proxy)
	r.set("fastcgi", f)
	r.note("a front controller: files as they are, everything else runs " + last + " (from the PHP location " + m.from(m.php.d) + ")")
	return true
}

// directiveNames lists the names of a block's directives.
func directiveNames(ds crossplane.Directives) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Directive)
	}
	return out
}

// authRequest maps auth_request URI to forward auth: the URL is where
// the location that URI reaches proxies to, and auth_request_set's
// $upstream_http_NAME headers are copied upstream.
func (m *mapper) authRequest(r *node, s *scope) {
	var target *loc
	for i, l := range m.serverLocs {
		switch {
		case l.mod == "=" && l.path == s.authRequest:
			target = &m.serverLocs[i]
		case (l.mod == "" || l.mod == "^~") && strings.HasPrefix(s.authRequest, l.path) && (target == nil || target.mod != "=" && len(l.path) > len(target.path)):
			target = &m.serverLocs[i]
		}
	}
	var pass *crossplane.Directive
	if target != nil {
		for _, c := range target.d.Block {
			if c.Directive == "proxy_pass" {
				pass = c
			}
		}
	}
	if pass == nil {
		m.warn(s.authRequestAt, "no location with proxy_pass answers %s: the auth check is left out, and the route is refused (403)", s.authRequest)
		r.set("access", newMap()).set("deny", strs("all"))
		return
	}
	u, err := url.Parse(pass.Args[0])
	if err != nil || strings.Contains(pass.Args[0], "$") {
		m.warn(pass, "cannot carry over %q for auth_request: the route is refused (403)", pass.Args[0])
		r.set("access", newMap()).set("deny", strs("all"))
		return
	}
	host := u.Host
	if m.upstreams[host] {
		host = m.upstreamAddrs[host]
		m.warn(pass, "forward auth asks one server: %s, the first of the upstream %s", host, u.Host)
	}
	path := u.Path
	if path == "" {
		// Without a URI, nginx sends the subrequest's own.
		path = s.authRequest
	} else if target.mod == "" || target.mod == "^~" {
		path = path + strings.TrimPrefix(s.authRequest, target.path)
	}
	fwd := r.child("auth").child("forward")
	fwd.set("url", str(u.Scheme+"://"+host+path))
	if len(s.authCopy) > 0 {
		fwd.set("copy_headers", strs(dedupe(s.authCopy)...))
	}
}

// rewriteArgs reads a rewrite's regex (which must be RE2), replacement
// and flag.
func (m *mapper) rewriteArgs(d *crossplane.Directive) (from, to, flag string, re *regexp.Regexp, ok bool) {
	from, to = d.Args[0], d.Args[1]
	re, err := regexp.Compile(from)
	if err != nil {
		m.unsupported(d, "the regex is not RE2 (no lookarounds or backreferences)")
		return "", "", "", nil, false
	}
	if len(d.Args) > 2 {
		flag = d.Args[2]
	}
	return from, to, flag, re, true
}

// headerValue converts a header's nginx value to a Gatehouse value, or
// warns and reports false when it cannot be carried over.
func (m *mapper) headerValue(h header) (string, bool) {
	v, bad := value(h.value)
	switch {
	case strings.ContainsAny(h.value, "\r\n\x00"):
		m.warn(h.at, "a line break in the value: header %s left out", h.name)
	case bad == "$upstream_cache_status":
		m.warn(h.at, "header %s left out: Gatehouse says what its cache did in Cache-Status (RFC 9211)", h.name)
	case bad != "":
		m.warn(h.at, "the variable %s has no Gatehouse placeholder: header %s left out", bad, h.name)
	default:
		return v, true
	}
	return "", false
}
