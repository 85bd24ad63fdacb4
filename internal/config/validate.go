package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/route"
)

// Defaults applied to keys left out of the file.
const (
	DefaultAdmin           = "127.0.0.1:2019"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultConnectTimeout  = 5 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	// DefaultKeepAliveTimeout is below the 2 s after which Gunicorn's
	// gthread and async workers close idle connections.
	DefaultKeepAliveTimeout = 1500 * time.Millisecond

	DefaultClientHeaderTimeout = 10 * time.Second
	DefaultClientIdleTimeout   = 75 * time.Second
	DefaultMaxHeaderSize       = 32 << 10
	DefaultMaxHeaders          = 100
	DefaultMaxURILength        = 8 << 10
	DefaultMaxBodySize         = 1 << 30
	DefaultMinRate             = 500
	DefaultRateGrace           = 20 * time.Second
	DefaultBufferMemory        = 256 << 10
	DefaultSpoolMax            = 4 << 30
	DefaultUnixMode            = 0o660
)

// setDefault replaces a zero value with def.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func applyDefaults(c *Config) {
	cl := &c.Client
	setDefault(&cl.HeaderTimeout, Duration(DefaultClientHeaderTimeout))
	setDefault(&cl.IdleTimeout, Duration(DefaultClientIdleTimeout))
	setDefault(&cl.MaxHeaderSize, DefaultMaxHeaderSize)
	setDefault(&cl.MaxHeaders, DefaultMaxHeaders)
	setDefault(&cl.MaxURILength, DefaultMaxURILength)
	setDefault(&cl.MaxBodySize, DefaultMaxBodySize)
	setDefault(&cl.MinUploadRate, DefaultMinRate)
	setDefault(&cl.MinDownloadRate, DefaultMinRate)
	setDefault(&cl.RateGrace, Duration(DefaultRateGrace))
	setDefault(&c.Buffering.Memory, DefaultBufferMemory)
	setDefault(&c.Buffering.SpoolMax, DefaultSpoolMax)
	if c.Buffering.SpoolDir == "" {
		c.Buffering.SpoolDir = os.TempDir()
	} else if !filepath.IsAbs(c.Buffering.SpoolDir) {
		c.Buffering.SpoolDir = filepath.Join(c.Dir, c.Buffering.SpoolDir)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.AccessLog.Format == "" {
		c.AccessLog.Format = "json"
	}
	if c.AccessLog.Output == "" {
		c.AccessLog.Output = "stdout"
	}
	if c.Tracing.SampleRatio == nil {
		c.Tracing.SampleRatio = ptr(1.0)
	}
	setDefault(&c.Tracing.ServiceName, "gatehouse")
	cacheDefaults(c.Dir, &c.Cache)
	c.WAFLog = resolvePath(c.Dir, c.WAFLog)
	c.WAFPatches = resolvePath(c.Dir, c.WAFPatches)
	for name, u := range c.Upstreams {
		UpstreamDefaults(c.Dir, &u)
		c.Upstreams[name] = u
	}
	for si := range c.Sites {
		site := &c.Sites[si]
		setDefault(&site.MaxBodySize, cl.MaxBodySize)
		setDefault(&site.UnixMode, DefaultUnixMode)
		tlsDefaults(c.Dir, site)
		for st, f := range site.ErrorPages {
			site.ErrorPages[st] = resolvePath(c.Dir, f)
		}
		site.Buffer = site.Buffer.over(BufferSwitch{Request: ptr(true), Response: ptr(true)})
		for ri := range site.Routes {
			r := &site.Routes[ri]
			setDefault(&r.MaxBodySize, site.MaxBodySize)
			r.Buffer = r.Buffer.over(site.Buffer)
			if r.Proxy != nil {
				upstreamTLSDefaults(c.Dir, r.Proxy)
				setDefault(&r.Proxy.ConnectTimeout, Duration(DefaultConnectTimeout))
				setDefault(&r.Proxy.ResponseTimeout, Duration(DefaultResponseTimeout))
				setDefault(&r.Proxy.IdleTimeout, Duration(DefaultIdleTimeout))
				setDefault(&r.Proxy.KeepAliveTimeout, Duration(DefaultKeepAliveTimeout))
			}
			gatewayDefaults(c.Dir, r)
			if r.Respond != nil && r.Respond.Status == 0 {
				r.Respond.Status = 200
			}
			if r.Redirect != nil && r.Redirect.Status == 0 {
				r.Redirect.Status = 302
			}
			if r.Static != nil {
				if len(r.Static.Index) == 0 {
					r.Static.Index = []string{"index.html"}
				}
				if r.Static.Root != "" && !filepath.IsAbs(r.Static.Root) {
					r.Static.Root = filepath.Join(c.Dir, r.Static.Root)
				}
			}
		}
	}
}

// over returns b with unset switches taken from parent.
func (b BufferSwitch) over(parent BufferSwitch) BufferSwitch {
	if b.Request == nil {
		b.Request = parent.Request
	}
	if b.Response == nil {
		b.Response = parent.Response
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// validate reports every semantic problem of a decoded config.
func validate(c *Config, report func(keyPath, string)) {
	validateAdmin(c, report)
	validateBans(c.Bans, report)
	validateCacheStorage(&c.Cache, report)
	validateStore(c, report)
	if t := c.Tracing; t.OTLP != "" {
		if u, err := url.Parse(t.OTLP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(keyPath{"tracing", "otlp"}, fmt.Sprintf("want the collector's URL, e.g. http://127.0.0.1:4318, got %q", t.OTLP))
		}
	}
	if r := *c.Tracing.SampleRatio; r < 0 || r > 1 {
		report(keyPath{"tracing", "sample_ratio"}, "must be between 0 and 1")
	}
	if m := c.Metrics.Listen; m != "" {
		if _, _, err := net.SplitHostPort(m); err != nil {
			report(keyPath{"metrics", "listen"}, fmt.Sprintf("want host:port, got %q", m))
		}
	}
	for i, p := range c.TrustedProxies {
		if p == TrustUnix {
			continue
		}
		if _, err := ParsePrefix(p); err != nil {
			report(keyPath{"trusted_proxies", i}, err.Error())
		}
	}
	oneOf(report, keyPath{"log", "level"}, c.Log.Level, "debug", "info", "warn", "error")
	oneOf(report, keyPath{"log", "format"}, c.Log.Format, "text", "json")
	oneOf(report, keyPath{"access_log", "format"}, c.AccessLog.Format, "json", "combined")
	if out := c.AccessLog.Output; strings.Contains(out, "://") {
		rest, ok := strings.CutPrefix(out, "syslog://")
		if !ok {
			rest, ok = strings.CutPrefix(out, "syslog+tcp://")
		}
		if _, _, err := net.SplitHostPort(rest); !ok || err != nil {
			report(keyPath{"access_log", "output"}, fmt.Sprintf("want stdout, stderr, off, a file path, syslog://HOST:PORT or syslog+tcp://HOST:PORT, got %q", out))
		}
	}
	if c.Client.MaxURILength >= c.Client.MaxHeaderSize {
		report(keyPath{"client", "max_uri_length"}, "must be smaller than client.max_header_size, which includes the request line")
	}
	if c.Client.MaxHeaders < 0 {
		report(keyPath{"client", "max_headers"}, "must be positive")
	}
	if c.Certificates.RenewInterval < 0 {
		report(keyPath{"certificates", "renew_interval"}, "must not be negative")
	}
	if c.Certificates.OCSPInterval < 0 {
		report(keyPath{"certificates", "ocsp_interval"}, "must not be negative")
	}
	if fi, err := os.Stat(c.Buffering.SpoolDir); err != nil || !fi.IsDir() {
		report(keyPath{"buffering", "spool_dir"}, fmt.Sprintf("%s is not a directory", c.Buffering.SpoolDir))
	}

	names := make([]string, 0, len(c.Upstreams))
	for name := range c.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		u := c.Upstreams[name]
		validateUpstream(&u, keyPath{"upstreams", name}, report)
		c.Upstreams[name] = u
	}

	if len(c.Sites) == 0 {
		report(keyPath{"sites"}, "at least one site is needed")
	}
	listeners := map[string]*listenerClaims{}
	for i := range c.Sites {
		validateSite(c, &c.Sites[i], keyPath{"sites", i}, listeners, report)
	}
}

// listenerClaims tracks which hosts the sites on one listener claim.
type listenerClaims struct {
	hosts  *route.Hosts[int]
	scheme string // the scheme as written: proxy+http, https...
	site   int    // the first site that listed the address
	mode   FileMode
	// connLimit is the first conn_limit a site on the listener set, and
	// connSite that site.
	connLimit *ConnLimit
	connSite  int
}

func validateSite(c *Config, s *Site, at keyPath, listeners map[string]*listenerClaims, report func(keyPath, string)) {
	if len(s.Listen) == 0 {
		report(at.key("listen"), "a site needs at least one listen address, e.g. [\":8080\"]")
	}
	for i, l := range s.Listen {
		addr, err := ParseListen(l)
		if err != nil {
			report(at.key("listen").idx(i), err.Error())
			continue
		}
		if addr.Proxy && len(c.TrustedProxies) == 0 {
			report(at.key("listen").idx(i), fmt.Sprintf("%s takes the PROXY protocol only from trusted_proxies: list the load balancers' addresses there", l))
		}
		claims := listeners[addr.Addr]
		switch {
		case claims == nil:
			claims = &listenerClaims{hosts: route.NewHosts[int](), scheme: addr.FullScheme(), site: at[1].(int), mode: s.UnixMode}
			listeners[addr.Addr] = claims
		case claims.scheme != addr.FullScheme():
			report(at.key("listen").idx(i), fmt.Sprintf("%s is %s here but %s in sites[%d]: one address serves one scheme",
				addr.Addr, addr.FullScheme(), claims.scheme, claims.site))
		case addr.Network == "unix" && claims.mode != s.UnixMode:
			report(at.key("unix_mode"), fmt.Sprintf("%s is mode %#o in sites[%d]: sites sharing a socket give it one mode",
				addr.Addr, claims.mode, claims.site))
		}
		if s.ConnLimit != nil {
			switch {
			case claims.connLimit == nil:
				claims.connLimit, claims.connSite = s.ConnLimit, at[1].(int)
			case *claims.connLimit != *s.ConnLimit:
				report(at.key("conn_limit"), fmt.Sprintf("%s has another conn_limit in sites[%d]: connections are counted per listener, before a host is known, so sites sharing one set the same",
					addr.Addr, claims.connSite))
			}
		}
		if addr.Network == "unix" {
			if fi, err := os.Stat(filepath.Dir(addr.Address)); err != nil || !fi.IsDir() {
				report(at.key("listen").idx(i), fmt.Sprintf("the directory of %s does not exist", addr.Address))
			}
		}
		if len(s.Hosts) == 0 {
			if err := claims.hosts.SetDefault(0); err != nil {
				report(at.key("listen").idx(i), err.Error())
			}
		}
		for j, h := range s.Hosts {
			if err := claims.hosts.Add(h, 0); err != nil {
				report(at.key("hosts").idx(j), fmt.Sprintf("%v (listener %s)", err, addr.Addr))
			}
		}
	}
	for i, h := range s.Hosts {
		if err := ValidHost(h); err != nil {
			report(at.key("hosts").idx(i), err.Error())
		}
	}
	validateTLS(s, at, report)
	validateErrorPages(s, at, report)
	validateHeaderRules(s.Headers, at.key("headers"), report)
	validateHeaderRules(s.RequestHeaders, at.key("request_headers"), report)
	validateCompress(s.Compress, at.key("compress"), report)
	validateCache(s.Cache, at.key("cache"), report)
	validateWAF(c.Dir, s.WAF, at.key("waf"), report)
	validateRateLimits(s.RateLimit, at.key("rate_limit"), report)
	validateAccess(c.Dir, s.Access, at.key("access"), report)
	validateConnLimit(s.ConnLimit, at.key("conn_limit"), report)
	validateAuth(c.Dir, s.Auth, at.key("auth"), report)
	if s.Auth != nil && s.Auth.ClientCert != nil && !s.HasScheme("https") {
		report(at.key("auth").key("client_cert"), "client certificates need an https:// listener")
	}
	if len(s.Routes) == 0 {
		report(at.key("routes"), "a site needs at least one route")
	}
	paths := route.NewTable[int]()
	named := map[string]bool{}
	for i := range s.Routes {
		r := &s.Routes[i]
		if r.Name != "" {
			named[r.Name] = true
		}
	}
	seen := map[string]bool{}
	for i := range s.Routes {
		r := &s.Routes[i]
		rat := at.key("routes").idx(i)
		if r.Name != "" {
			switch {
			case r.Path != "":
				report(rat.key("name"), "a named route has no path: it is reached from a static route's try list (\"@"+r.Name+"\")")
			case !validRouteName(r.Name):
				report(rat.key("name"), fmt.Sprintf("route name %q: use letters, digits, - and _", r.Name))
			case seen[r.Name]:
				report(rat.key("name"), fmt.Sprintf("a second route named %q", r.Name))
			}
			seen[r.Name] = true
		} else if r.Path == "" {
			report(rat.key("path"), "missing path (use \"/\" to match everything)")
		} else if p, err := route.ParsePattern(r.Path); err != nil {
			report(rat.key("path"), err.Error())
		} else if err := paths.Add(p, i); err != nil {
			report(rat.key("path"), err.Error())
		}
		validateRoute(c, r, rat, report)
		if r.Static != nil {
			r.Static.Entries = tryEntries(r.Static.Try, named, rat.key("static").key("try"), report)
		}
		if r.FastCGI != nil {
			r.FastCGI.Entries = tryEntries(r.FastCGI.Try, named, rat.key("fastcgi").key("try"), report)
		}
	}
}

// validRouteName reports whether name is letters, digits, - and _.
func validRouteName(name string) bool {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return name != ""
}

// tryEntries reads a static route's try list; "@name" and "=CODE" may
// only end it, and name a named route of the site (named).
func tryEntries(try []string, named map[string]bool, at keyPath, report func(keyPath, string)) []TryEntry {
	var out []TryEntry
	for i, t := range try {
		last := i == len(try)-1
		switch {
		case t == "$uri":
			out = append(out, TryEntry{Kind: TryFile})
		case t == "$uri/":
			out = append(out, TryEntry{Kind: TryDir})
		case strings.HasPrefix(t, "/"):
			out = append(out, TryEntry{Kind: TryPath, Path: t})
		case strings.HasPrefix(t, "@"):
			switch {
			case !last:
				report(at.idx(i), fmt.Sprintf("%s must be the last entry: the named route handles what is left", t))
			case !named[t[1:]]:
				report(at.idx(i), fmt.Sprintf("no route of this site is named %q", t[1:]))
			}
			out = append(out, TryEntry{Kind: TryRoute, Route: t[1:]})
		case strings.HasPrefix(t, "="):
			code, err := strconv.Atoi(t[1:])
			switch {
			case err != nil || code < 100 || code > 599:
				report(at.idx(i), fmt.Sprintf("%q: want = and an HTTP status, such as =404", t))
			case !last:
				report(at.idx(i), fmt.Sprintf("%s must be the last entry", t))
			}
			out = append(out, TryEntry{Kind: TryCode, Status: code})
		default:
			report(at.idx(i), fmt.Sprintf("want $uri, $uri/, a path starting with /, @name or =CODE, got %q", t))
		}
	}
	return out
}

func validateRoute(c *Config, r *Route, at keyPath, report func(keyPath, string)) {
	handlers := 0
	for _, set := range []bool{r.Proxy != nil, r.Respond != nil, r.Redirect != nil, r.Static != nil} {
		if set {
			handlers++
		}
	}
	if handlers != 1 {
		report(at, "a route needs exactly one of proxy, respond, redirect, static")
	}
	scheme := ""
	if p := r.Proxy; p != nil {
		scheme = validateTargets(c, p, at.key("proxy").key("to"), report)
		validateUpstreamTLS(p, scheme, at.key("proxy"), report)
	}
	validateGateway(r, scheme, at, report)
	if rs := r.Respond; rs != nil && (rs.Status < 100 || rs.Status > 599) {
		report(at.key("respond").key("status"), fmt.Sprintf("status %d is not an HTTP status (100-599)", rs.Status))
	}
	if rd := r.Redirect; rd != nil {
		if rd.To == "" {
			report(at.key("redirect").key("to"), "missing redirect target")
		}
		switch rd.Status {
		case 301, 302, 303, 307, 308:
		default:
			report(at.key("redirect").key("status"), fmt.Sprintf("redirect status must be 301, 302, 303, 307 or 308, got %d", rd.Status))
		}
	}
	if st := r.Static; st != nil {
		if st.Root == "" {
			report(at.key("static").key("root"), "missing root directory")
		} else if fi, err := os.Stat(st.Root); err != nil || !fi.IsDir() {
			report(at.key("static").key("root"), fmt.Sprintf("%s is not a readable directory", st.Root))
		}
		for i, idx := range st.Index {
			if idx == "" || strings.ContainsRune(idx, '/') {
				report(at.key("static").key("index").idx(i), fmt.Sprintf("index %q must be a plain file name", idx))
			}
		}
	}
	validateRouteOutput(r, at, report)
	validateCache(r.Cache, at.key("cache"), report)
	validateWAF(c.Dir, r.WAF, at.key("waf"), report)
	validateRateLimits(r.RateLimit, at.key("rate_limit"), report)
	validateAccess(c.Dir, r.Access, at.key("access"), report)
	validateAuth(c.Dir, r.Auth, at.key("auth"), report)
	if r.Auth != nil && r.Auth.ClientCert != nil {
		report(at.key("auth").key("client_cert"), "client_cert is a site's: the TLS handshake asks for the certificate before a route is known")
	}
}

// validateTargets checks a proxy's to: a pool name, or URLs, which it
// parses into p.Servers. It returns the scheme the route's upstreams speak
// ("" when unknown).
func validateTargets(c *Config, p *Proxy, at keyPath, report func(keyPath, string)) string {
	to := p.To
	if len(to) == 0 {
		report(at, "missing proxy target: a pool name, a URL, or a list of URLs")
		return ""
	}
	if len(to) == 1 && !strings.Contains(to[0], "://") {
		u, ok := c.Upstreams[to[0]]
		if !ok {
			msg := fmt.Sprintf("no upstream pool named %q (or write a URL such as http://127.0.0.1:8000)", to[0])
			if s := closest(to[0], mapKeys(c.Upstreams)); s != "" {
				msg = fmt.Sprintf("no upstream pool named %q (did you mean %q?)", to[0], s)
			}
			report(at, msg)
			return ""
		}
		if len(u.Servers) == 0 {
			return ""
		}
		return u.Servers[0].Target.Scheme
	}
	p.Servers = make([]ServerEntry, len(to))
	for i, s := range to {
		p.Servers[i] = ServerEntry{URL: s, Weight: 1}
	}
	return validateServers(p.Servers, at, report)
}

// validateServers parses the servers' URLs into their Target and checks
// that they all speak one protocol, which it returns ("" when unknown).
func validateServers(servers []ServerEntry, at keyPath, report func(keyPath, string)) string {
	scheme := ""
	for i := range servers {
		s := &servers[i]
		t, err := ParseUpstreamURL(s.URL)
		if err != nil {
			report(at.idx(i), err.Error())
			continue
		}
		s.Target = t
		switch {
		case scheme == "":
			scheme = t.Scheme
		case t.Scheme != scheme:
			report(at.idx(i), fmt.Sprintf("all servers of a pool speak one protocol: this one is %s://, an earlier one %s://", t.Scheme, scheme))
		}
	}
	return scheme
}

func validateUpstream(u *Upstream, at keyPath, report func(keyPath, string)) {
	if len(u.Servers) == 0 {
		report(at.key("servers"), "a pool needs at least one server")
	}
	validateServers(u.Servers, at.key("servers"), report)
	for i, s := range u.Servers {
		if s.Weight < 0 {
			report(at.key("servers").idx(i).key("weight"), "weight must be positive")
		}
	}
	validatePool(*u, at, report)
}

// Listen is a parsed listen address.
type Listen struct {
	Scheme string // "http" or "https"
	// Proxy requires a PROXY protocol header (v1 or v2) ahead of each
	// connection, from a trusted proxy (proxy+http://, proxy+https://).
	Proxy bool
	// Network is "tcp" or "unix"; Address is what net.Listen is given
	// (host:port, or the socket's path).
	Network, Address string
	// Addr names the listener: host:port, or unix:PATH.
	Addr string
}

// Port is the listener's port: a TCP listener's own, the scheme's default
// for a unix socket.
func (l Listen) Port() string {
	if l.Network == "unix" {
		if l.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	_, port, _ := net.SplitHostPort(l.Address)
	return port
}

// FullScheme is the scheme as written: http, https, proxy+http or
// proxy+https.
func (l Listen) FullScheme() string {
	if l.Proxy {
		return "proxy+" + l.Scheme
	}
	return l.Scheme
}

// ParseListen parses "[scheme://]host:port", or "[http://]unix:/path" for a
// unix socket. The scheme is http, https, or either behind the PROXY
// protocol (proxy+http, proxy+https).
func ParseListen(s string) (Listen, error) {
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok {
		scheme, addr = "http", s
	}
	scheme, proxy := strings.CutPrefix(scheme, "proxy+")
	switch scheme {
	case "http", "https":
	default:
		return Listen{}, fmt.Errorf("unknown scheme %q in listen address %q (want http, https, proxy+http or proxy+https)", scheme, s)
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if scheme != "http" {
			return Listen{}, fmt.Errorf("listen address %q: a unix socket serves plain HTTP (unix:/path or http://unix:/path)", s)
		}
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return Listen{}, fmt.Errorf("listen address %q: want an absolute socket path, e.g. unix:/run/gatehouse.sock", s)
		}
		path = filepath.Clean(path)
		return Listen{Scheme: scheme, Proxy: proxy, Network: "unix", Address: path, Addr: "unix:" + path}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Listen{}, fmt.Errorf("listen address %q: want [http://|https://]host:port, e.g. \":8080\" or \"https://:443\", or unix:/path/to.sock", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return Listen{}, fmt.Errorf("listen address %q: bad port %q", s, port)
	}
	hp := net.JoinHostPort(host, port)
	return Listen{Scheme: scheme, Proxy: proxy, Network: "tcp", Address: hp, Addr: hp}, nil
}

// validateAdmin checks the admin address, and that an admin API reachable
// beyond this machine asks for a token.
func validateAdmin(c *Config, report func(keyPath, string)) {
	at := keyPath{"admin"}
	if c.AdminToken != "" {
		if c.Admin.Token != "" && c.Admin.Token != c.AdminToken {
			report(keyPath{"admin_token"}, "admin.token is set too, to another value: set one of them")
		}
		c.Admin.Token = c.AdminToken
	}
	if c.Admin.Off() {
		return
	}
	host, _, err := net.SplitHostPort(c.Admin.Addr())
	if err != nil {
		report(at, fmt.Sprintf("want host:port or \"off\", got %q", c.Admin.Listen))
		return
	}
	if c.Admin.Token == "" && !IsLoopback(host) {
		report(at, fmt.Sprintf("the admin API on %s is reachable beyond this machine: set admin_token (or admin: {listen, token}), or listen on 127.0.0.1", c.Admin.Addr()))
	}
	if t := c.Admin.Token; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		report(keyPath{"admin_token"}, "want a token of at least 16 characters without spaces (e.g. the output of `openssl rand -hex 24`)")
	}
}

// IsLoopback reports whether a listen host is this machine only: a
// loopback address or localhost.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TrustUnix in trusted_proxies trusts peers on unix socket listeners, as
// nginx's set_real_ip_from unix:.
const TrustUnix = "unix:"

// ParsePrefix parses a CIDR or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ValidHost checks a site host name: an exact name or a "*." wildcard.
func ValidHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, " /:*@") {
		return fmt.Errorf("host %q: want a name such as example.com or *.example.com", h)
	}
	return nil
}

func oneOf(report func(keyPath, string), at keyPath, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	report(at, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
}
