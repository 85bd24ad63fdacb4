package nginximport

import (
	"strconv"
	"strings"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// header is one proxy_set_header or add_header.
type header struct {
	name, value string
	always      bool
	at          *crossplane.Directive
}

// limitReq is one limit_req.
type limitReq struct {
	zone    string
	burst   int
	nodelay bool
	at      *crossplane.Directive
}

// accessRule is one allow or deny.
type accessRule struct {
	allow bool
	addr  string
	at    *crossplane.Directive
}

// scope is what a level of the nginx configuration (http, server,
// location) holds, with what it inherits from the levels around it, the
// way nginx inherits: a level that sets an array directive of its own
// (add_header, proxy_set_header, allow/deny) drops the outer level's.
type scope struct {
	root, alias   string
	rootAt        *crossplane.Directive
	index         []string
	maxBody       string
	maxBodyAt     *crossplane.Directive
	setHeaders    []header
	ownSetHeaders bool
	hideHeaders   []string
	addHeaders    []header
	ownAddHeaders bool
	connect, read string
	buffering     *bool
	reqBuffering  *bool
	expires       string
	expiresAt     *crossplane.Directive
	gzip          bool
	access        []accessRule
	ownAccess     bool
	authRealm     string // "" unset, "off"
	authFile      string
	autoindex     bool
	keepalive     string
	defaultType   string
	limitReqs     []limitReq
	ownLimitReqs  bool
	limitStatus   int
	limitConns    []*crossplane.Directive
	ownLimitConns bool
	cache         string // proxy_cache's zone, "off" or ""
	cacheAt       *crossplane.Directive
	cacheValid    []*crossplane.Directive
	ownCacheValid bool
	cacheKey      *crossplane.Directive
	cacheStale    *crossplane.Directive
	cacheBypass   []*crossplane.Directive
	backgroundUpd bool
	authRequest   string // auth_request's URI, or "off"
	authRequestAt *crossplane.Directive
	authCopy      []string          // headers auth_request_set takes from the answer
	authVars      map[string]string // auth_request_set's variables: the header each holds
}

// inherit is the scope a nested level starts from.
func (s *scope) inherit() *scope {
	c := *s
	c.ownSetHeaders, c.ownAddHeaders, c.ownAccess = false, false, false
	c.ownLimitReqs, c.ownLimitConns, c.ownCacheValid = false, false, false
	c.alias = ""
	return &c
}

// apply takes a directive every level shares into the scope and reports
// whether it was one.
func (m *mapper) apply(s *scope, d *crossplane.Directive) bool {
	args := d.Args
	switch d.Directive {
	case "root":
		s.root, s.rootAt = m.path(args[0]), d
	case "alias":
		s.alias, s.rootAt = m.path(args[0]), d
	case "index":
		s.index = args
	case "client_max_body_size":
		s.maxBody, s.maxBodyAt = args[0], d
	case "proxy_set_header":
		if !s.ownSetHeaders {
			s.setHeaders, s.ownSetHeaders = nil, true
		}
		value := ""
		if len(args) > 1 {
			value = args[1]
		}
		s.setHeaders = append(s.setHeaders, header{name: args[0], value: value, at: d})
	case "proxy_hide_header":
		s.hideHeaders = append(s.hideHeaders, args[0])
	case "add_header":
		if !s.ownAddHeaders {
			s.addHeaders, s.ownAddHeaders = nil, true
		}
		h := header{name: args[0], value: args[1], at: d}
		h.always = len(args) > 2 && args[2] == "always"
		s.addHeaders = append(s.addHeaders, h)
	case "proxy_connect_timeout":
		s.connect = args[0]
	case "proxy_read_timeout":
		s.read = args[0]
	case "proxy_send_timeout":
		// Gatehouse's idle_timeout bounds both directions; read's value
		// is taken for it.
	case "proxy_buffering":
		on := args[0] == "on"
		s.buffering = &on
	case "proxy_request_buffering":
		on := args[0] == "on"
		s.reqBuffering = &on
	case "expires":
		s.expires, s.expiresAt = args[len(args)-1], d
		if len(args) > 1 {
			m.warn(d, "only the last value is kept (%q)", args[len(args)-1])
		}
	case "gzip":
		s.gzip = args[0] == "on"
	case "allow", "deny":
		if !s.ownAccess {
			s.access, s.ownAccess = nil, true
		}
		s.access = append(s.access, accessRule{allow: d.Directive == "allow", addr: args[0], at: d})
	case "auth_basic":
		s.authRealm = args[0]
	case "auth_basic_user_file":
		s.authFile = m.path(args[0])
	case "autoindex":
		s.autoindex = args[0] == "on"
	case "keepalive_timeout":
		s.keepalive = args[0]
	case "default_type":
		s.defaultType = args[0]
	case "limit_req":
		if !s.ownLimitReqs {
			s.limitReqs, s.ownLimitReqs = nil, true
		}
		lr := limitReq{at: d}
		for _, a := range args {
			k, v, _ := strings.Cut(a, "=")
			switch k {
			case "zone":
				lr.zone = v
			case "burst":
				lr.burst, _ = strconv.Atoi(v)
			case "nodelay":
				lr.nodelay = true
			case "delay":
				m.warn(d, "delay=%s: requests within the burst all wait their turn (nginx's limit_req without nodelay)", v)
			}
		}
		s.limitReqs = append(s.limitReqs, lr)
	case "limit_req_status":
		s.limitStatus, _ = strconv.Atoi(args[0])
	case "limit_conn":
		if !s.ownLimitConns {
			s.limitConns, s.ownLimitConns = nil, true
		}
		s.limitConns = append(s.limitConns, d)
	case "proxy_cache":
		s.cache, s.cacheAt = args[0], d
	case "proxy_cache_valid":
		if !s.ownCacheValid {
			s.cacheValid, s.ownCacheValid = nil, true
		}
		s.cacheValid = append(s.cacheValid, d)
	case "proxy_cache_key":
		s.cacheKey = d
	case "proxy_cache_use_stale":
		s.cacheStale = d
	case "proxy_cache_bypass", "proxy_no_cache":
		s.cacheBypass = append(s.cacheBypass, d)
	case "proxy_cache_background_update":
		s.backgroundUpd = args[0] == "on"
	case "proxy_cache_lock", "proxy_cache_lock_timeout", "proxy_cache_lock_age", "proxy_cache_min_uses",
		"proxy_cache_methods", "proxy_cache_revalidate", "proxy_cache_convert_head":
		// Gatehouse collapses misses, revalidates and caches GET and
		// HEAD on its own.
	case "auth_request":
		s.authRequest, s.authRequestAt = args[0], d
	case "auth_request_set":
		if name, ok := strings.CutPrefix(args[1], "$upstream_http_"); ok {
			s.authCopy = append(s.authCopy, headerName(name))
			vars := map[string]string{}
			for k, v := range s.authVars {
				vars[k] = v
			}
			vars[args[0]] = headerName(name)
			s.authVars = vars
		} else {
			m.warn(d, "only $upstream_http_NAME values are carried over (as copy_headers)")
		}
	case "limit_req_log_level", "limit_conn_log_level", "limit_req_dry_run", "limit_conn_dry_run":
	default:
		return false
	}
	return true
}

// headerName turns an nginx variable's header part (x_auth_user) into a
// header name (X-Auth-User).
func headerName(v string) string {
	parts := strings.Split(v, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}
