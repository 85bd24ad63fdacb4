// Package config defines the Gatehouse configuration file: typed structs for
// every key, strict YAML decoding (unknown keys are errors), defaults and
// validation. Every problem is reported with the file, line and column of the
// offending key.
package config

import "github.com/gatehouse/gatehouse/internal/placeholder"

// Config is the whole configuration file.
type Config struct {
	// Admin is where the admin API (and the dashboard) listens: a
	// host:port, "off", or {listen, token}.
	Admin Admin `yaml:"admin"`
	// AdminToken is admin.token written at the top level.
	AdminToken string `yaml:"admin_token"`
	// PIDFile, when set, receives the process ID so that `gatehouse reload`
	// can signal the running instance.
	PIDFile string `yaml:"pid_file"`
	// TrustedProxies lists the CIDRs (or single addresses) whose forwarding
	// headers (X-Forwarded-*, Forwarded, X-Real-IP, X-Request-ID) are
	// believed; "unix:" trusts peers on unix socket listeners.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShutdownTimeout bounds how long a stopping or reloading instance waits
	// for requests in flight.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Log configures the error log.
	Log Log `yaml:"log"`
	// AccessLog configures the access log.
	AccessLog AccessLog `yaml:"access_log"`
	// Client holds the limits and timeouts that protect against slow or
	// hostile clients.
	Client Client `yaml:"client"`
	// Buffering configures where and how much request and response bodies
	// are buffered.
	Buffering Buffering `yaml:"buffering"`
	// Certificates holds the process-wide certificate maintenance settings.
	Certificates Certificates `yaml:"certificates"`
	// Metrics configures Prometheus metrics and the dashboard's counters.
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry traces (off by default).
	Tracing Tracing `yaml:"tracing"`
	// Cache is where the HTTP cache keeps responses; sites and routes
	// turn caching on with cache: {}.
	Cache CacheStorage `yaml:"cache"`
	// WAFLog, when set, is a file that gets one JSON line for each
	// request a WAF rule matched (the audit log).
	WAFLog string `yaml:"waf_log"`
	// WAFPatches, when set, is the file virtual patches are kept in:
	// loaded at start, rewritten on every change.
	WAFPatches string `yaml:"waf_patches"`
	// Bans refuses, for a while, clients that earn too many error
	// answers (off unless set; the admin API can ban either way).
	Bans *Bans `yaml:"bans"`
	// Store, when set, is the Redis or Valkey deployment a fleet of
	// instances shares state through; features opt in with shared.
	Store *Store `yaml:"store"`
	// Upstreams holds the named upstream pools.
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Sites are the virtual hosts.
	Sites []Site `yaml:"sites"`

	// File is the path the config was read from ("" for built-in configs).
	File string `yaml:"-"`
	// Dir is the directory relative paths are resolved against.
	Dir string `yaml:"-"`
}

// Admin configures the admin API.
type Admin struct {
	// Listen is host:port, or "off" (default 127.0.0.1:2019).
	Listen string `yaml:"listen"`
	// Token, when set, must come with every admin request but /health
	// and the dashboard's page itself, as "Authorization: Bearer TOKEN".
	// It is required when Listen is not a loopback address.
	Token string `yaml:"token"`
	// Shared: the changes made through the admin API (virtual patches,
	// the maintenance switch, bans, cache purges) reach every instance of
	// the fleet (store: must be set).
	Shared bool `yaml:"shared"`
}

// Metrics configures what is counted and where /metrics is served besides
// the admin address.
type Metrics struct {
	// Listen, when set, serves GET /metrics on this address too, for
	// scrapers that must not reach the admin API. Like admin, it applies
	// at start.
	Listen string `yaml:"listen"`
	// Off stops counting requests per route and attempts per upstream
	// server (the process, listener and pool metrics remain).
	Off bool `yaml:"off"`
}

// Tracing exports spans of requests and upstream attempts over OTLP/HTTP.
type Tracing struct {
	// OTLP is the collector's base URL (e.g. http://127.0.0.1:4318);
	// spans go to OTLP/v1/traces. Empty: tracing off.
	OTLP string `yaml:"otlp"`
	// SampleRatio is the share of new traces recorded (default 1.0); a
	// trace that arrives sampled, or not, stays so.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName names Gatehouse in the traces (default gatehouse).
	ServiceName string `yaml:"service_name"`
}

// Log configures the error log written to stderr.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// AccessLog configures the per-request log.
type AccessLog struct {
	// Format is json (default) or combined.
	Format string `yaml:"format"`
	// Output is stdout (default), stderr, off, a file path (reopened on
	// SIGUSR1), or syslog://HOST:PORT (UDP) or syslog+tcp://HOST:PORT
	// (RFC 5424 messages).
	Output string `yaml:"output"`
}

// Client holds the limits and timeouts applied to client connections.
type Client struct {
	// HeaderTimeout bounds receiving a request's headers (default 10s).
	HeaderTimeout Duration `yaml:"header_timeout"`
	// IdleTimeout bounds an idle keep-alive connection (default 75s).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxHeaderSize bounds the request line and headers (default 32KB; 431).
	MaxHeaderSize Size `yaml:"max_header_size"`
	// MaxHeaders bounds the number of header fields (default 100; 431).
	MaxHeaders int `yaml:"max_headers"`
	// MaxURILength bounds the request target (default 8KB; 414).
	MaxURILength Size `yaml:"max_uri_length"`
	// MaxBodySize is the default request body limit (default 1GB; 413).
	MaxBodySize Size `yaml:"max_body_size"`
	// MinUploadRate is the slowest a request body may arrive, in bytes per
	// second, once RateGrace has passed (default 500; 408).
	MinUploadRate Size `yaml:"min_upload_rate"`
	// MinDownloadRate is the slowest a client may read a response, in bytes
	// per second, once RateGrace has passed (default 500).
	MinDownloadRate Size `yaml:"min_download_rate"`
	// RateGrace is how long a body may take before the minimum rates apply
	// (default 20s).
	RateGrace Duration `yaml:"rate_grace"`
}

// Buffering configures body buffering.
type Buffering struct {
	// Memory is how much of one body is kept in memory before the rest
	// spills to a spool file (default 256KB).
	Memory Size `yaml:"memory"`
	// SpoolDir holds spool files; they are unlinked as soon as they are
	// created (default: the system temp dir).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMax bounds the total size of all spool files (default 4GB).
	// Beyond it, uploads get 503 and responses stream unbuffered.
	SpoolMax Size `yaml:"spool_max"`
}

// BufferSwitch turns request or response buffering off for a site or route.
type BufferSwitch struct {
	// Request buffers the whole request body before the upstream is
	// contacted (default true).
	Request *bool `yaml:"request"`
	// Response reads the upstream's response as fast as it comes and feeds
	// the client from the buffer (default true).
	Response *bool `yaml:"response"`
}

// Upstream is a named pool of upstream servers.
type Upstream struct {
	Servers []ServerEntry `yaml:"servers"`
	// Balance is the balancing policy: round_robin (default, smooth
	// weighted), least_conn, random_two, ip_hash, hash or first.
	Balance string `yaml:"balance"`
	// HashKey is what balance: hash hashes: "uri", "header:NAME" or
	// "cookie:NAME".
	HashKey string `yaml:"hash_key"`
	// Sticky pins a client to the server that first answered it, by a
	// cookie.
	Sticky *Sticky `yaml:"sticky"`
	// Health configures active and passive health checks.
	Health Health `yaml:"health"`
	// SlowStart ramps a server that comes back up from a small share of
	// traffic to its full weight over this long (0: at once).
	SlowStart Duration `yaml:"slow_start"`
	// Retries configures retrying failed requests on another server.
	Retries Retries `yaml:"retries"`
	// ResolveInterval is how often host names of servers are resolved
	// again (default 30s); a changed address retires idle connections.
	ResolveInterval Duration `yaml:"resolve_interval"`
	// TLS configures connections to https:// servers of the pool (and
	// their health checks); a route's proxy.tls overrides it.
	TLS *UpstreamTLS `yaml:"tls"`
}

// ServerEntry is one upstream server: a URL string or {url, weight,
// backup, max_conns}.
type ServerEntry struct {
	URL    string `yaml:"url"`
	Weight int    `yaml:"weight"`
	// Backup servers get requests only when no other server is up.
	Backup bool `yaml:"backup"`
	// MaxConns bounds the requests in flight to the server (0: no bound).
	MaxConns int `yaml:"max_conns"`

	// Target is URL, parsed by validation.
	Target UpstreamURL `yaml:"-"`
}

// Sticky configures cookie-based session affinity.
type Sticky struct {
	// Cookie is the cookie's name.
	Cookie string `yaml:"cookie"`
	// MaxAge is the cookie's lifetime (0: a session cookie).
	MaxAge Duration `yaml:"max_age"`
}

// Health configures health checks.
type Health struct {
	Active  *ActiveHealth  `yaml:"active"`
	Passive *PassiveHealth `yaml:"passive"`
}

// ActiveHealth checks each server with a request on a timer.
type ActiveHealth struct {
	// Path is requested with GET (default /).
	Path string `yaml:"path"`
	// Host is the Host header sent (default: the server's address).
	Host string `yaml:"host"`
	// Interval is the time between checks (default 5s).
	Interval Duration `yaml:"interval"`
	// Timeout bounds one check (default 2s).
	Timeout Duration `yaml:"timeout"`
	// Status lists the statuses that pass (default: any 2xx or 3xx).
	Status []int `yaml:"status"`
	// Passes and Fails are how many consecutive results change the
	// server's state (default 2 and 2).
	Passes int `yaml:"passes"`
	Fails  int `yaml:"fails"`
}

// PassiveHealth marks a server down after failures seen in real traffic.
type PassiveHealth struct {
	// Fails within Window mark the server down for DownFor (defaults 1,
	// 10s, 10s: nginx's max_fails and fail_timeout).
	Fails   int      `yaml:"fails"`
	Window  Duration `yaml:"window"`
	DownFor Duration `yaml:"down_for"`
	// Statuses are upstream response statuses counted as failures besides
	// connection failures and timeouts (default none).
	Statuses []int `yaml:"statuses"`
	// Off turns passive checks off.
	Off bool `yaml:"off"`
}

// Retries configures retrying a failed request on another server.
type Retries struct {
	// Tries is the most servers one request is sent to (default 3; 1
	// turns retries off).
	Tries int `yaml:"tries"`
	// Timeout bounds the time spent retrying (default 10s).
	Timeout Duration `yaml:"timeout"`
	// Budget is the share of requests that may be retries, so that retries
	// cannot multiply load on a failing pool (default 0.2; at least 10
	// retries in any 10 s stay allowed).
	Budget float64 `yaml:"budget"`
}

// Site is a virtual host: the listeners it is served on, its host names and
// its routes.
type Site struct {
	// Listen holds addresses as [scheme://]host:port, or unix:/path for a
	// unix socket.
	Listen []string `yaml:"listen"`
	// UnixMode is the permission bits of the site's unix socket listeners
	// (default 0660: the owner and its group may connect).
	UnixMode FileMode `yaml:"unix_mode"`
	// Hosts holds exact names and "*." wildcards; empty means the default
	// site of its listeners.
	Hosts []string `yaml:"hosts"`
	// Routes are matched by path: exact, then regex in file order, then the
	// longest prefix.
	Routes []Route `yaml:"routes"`
	// MaxBodySize overrides client.max_body_size for the site's routes.
	MaxBodySize Size `yaml:"max_body_size"`
	// Buffer sets the buffering defaults of the site's routes.
	Buffer BufferSwitch `yaml:"buffer"`
	// TLS holds the site's certificate for its https listeners.
	TLS *TLS `yaml:"tls"`
	// HSTS, when set, adds Strict-Transport-Security to the site's HTTPS
	// responses.
	HSTS *HSTS `yaml:"hsts"`
	// HTTPSRedirect sends plain-HTTP requests of a site that also has an
	// https listener to HTTPS with a 308 (default true).
	HTTPSRedirect *bool `yaml:"https_redirect"`
	// ErrorPages maps statuses to HTML files sent instead of Gatehouse's
	// own pages for the errors it generates (502, 503, 504, 404, ...).
	ErrorPages map[int]string `yaml:"error_pages"`
	// InterceptErrors also replaces upstream responses with an error page
	// when one is configured for their status (5xx and 4xx).
	InterceptErrors bool `yaml:"intercept_errors"`
	// Maintenance answers every request with 503 and the 503 error page.
	Maintenance bool `yaml:"maintenance"`
	// Headers and RequestHeaders apply to every route of the site.
	Headers        *HeaderRules `yaml:"headers"`
	RequestHeaders *HeaderRules `yaml:"request_headers"`
	// Compress lists the encodings offered for the site's responses, in
	// order of preference (zstd, br, gzip); none by default.
	Compress []string `yaml:"compress"`
	// Cache turns shared HTTP caching on for the site's routes.
	Cache *Cache `yaml:"cache"`
	// WAF inspects the site's requests with the OWASP Core Rule Set.
	WAF *WAF `yaml:"waf"`
	// RateLimit limits request rates across the site's routes.
	RateLimit *RateLimits `yaml:"rate_limit"`
	// Access allows and denies clients by address.
	Access *Access `yaml:"access"`
	// ConnLimit bounds the client connections of the site's listeners.
	ConnLimit *ConnLimit `yaml:"conn_limit"`
	// Auth decides who may reach the site's routes.
	Auth *Auth `yaml:"auth"`
}

// TLS is where a site's certificate comes from: files, or an ACME CA.
type TLS struct {
	// Cert is a PEM file holding the certificate chain, leaf first.
	Cert string `yaml:"cert"`
	// Key is the PEM file of the certificate's private key.
	Key string `yaml:"key"`
	// ACME obtains and renews certificates for the site's hosts.
	ACME *ACME `yaml:"acme"`
}

// ACME configures automatic certificates.
type ACME struct {
	// Email is the account contact the CA may write to about expiry.
	Email string `yaml:"email"`
	// CA is the CA's ACME directory URL (default Let's Encrypt).
	CA string `yaml:"ca"`
	// CARoot is a PEM file of root certificates to trust for the CA's own
	// HTTPS endpoint, for a private or test CA.
	CARoot string `yaml:"ca_root"`
	// Storage is the directory certificates and account keys are kept in.
	Storage string `yaml:"storage"`
	// Challenges limits the challenge types used (http-01, tls-alpn-01);
	// by default every type the site's listeners can answer.
	Challenges []string `yaml:"challenges"`
	// Shared keeps certificates, keys and accounts in the fleet's store
	// instead of Storage (store: must be set): one instance orders a
	// certificate and every instance serves it.
	Shared bool `yaml:"shared"`
}

// Certificates are the settings of certificate maintenance. They apply
// when Gatehouse starts; a reload does not change them.
type Certificates struct {
	// RenewInterval is how often automatic certificates are checked for
	// renewal (default 10m). A certificate is renewed in the last third
	// of its lifetime, or when its CA's renewal information says so.
	RenewInterval Duration `yaml:"renew_interval"`
	// OCSPInterval is the longest time between OCSP staple refreshes
	// (default 1h).
	OCSPInterval Duration `yaml:"ocsp_interval"`
}

// HSTS configures the Strict-Transport-Security header.
type HSTS struct {
	// MaxAge is how long browsers remember to use HTTPS only (default 365d).
	MaxAge Duration `yaml:"max_age"`
	// IncludeSubdomains extends the rule to every subdomain.
	IncludeSubdomains bool `yaml:"include_subdomains"`
	// Preload asks to be included in browsers' preload lists.
	Preload bool `yaml:"preload"`
}

// Route is a path matcher plus exactly one handler.
type Route struct {
	// Path is "= /exact", "~ regex", "~* case-insensitive regex" or a prefix.
	Path string `yaml:"path"`
	// Name makes the route a named one instead, reached only from a
	// static route's try list ("@name"), as nginx's named locations.
	Name     string    `yaml:"name"`
	Proxy    *Proxy    `yaml:"proxy"`
	Respond  *Respond  `yaml:"respond"`
	Redirect *Redirect `yaml:"redirect"`
	Static   *Static   `yaml:"static"`
	// MaxBodySize overrides the site's request body limit.
	MaxBodySize Size `yaml:"max_body_size"`
	// Buffer overrides the site's buffering switches.
	Buffer BufferSwitch `yaml:"buffer"`
	// Rewrite changes the path the handler sees (and the upstream gets),
	// rule after rule.
	Rewrite []RewriteRule `yaml:"rewrite"`
	// Expires sets Cache-Control max-age and Expires on the route's
	// successful responses: a duration, or "off".
	Expires string `yaml:"expires"`
	// Headers and RequestHeaders are merged over the site's: for the same
	// header name the route's rule wins.
	Headers        *HeaderRules `yaml:"headers"`
	RequestHeaders *HeaderRules `yaml:"request_headers"`
	// Compress overrides the site's compression encodings ([] for none).
	Compress []string `yaml:"compress"`
	// Cache turns shared HTTP caching on (or, with off, off) for the
	// route, replacing the site's setting.
	Cache *Cache `yaml:"cache"`
	// WAF's settings override the site's, field by field; its exclude
	// and rules add to the site's.
	WAF *WAF `yaml:"waf"`
	// RateLimit replaces the site's rate limits for the route (off: none).
	RateLimit *RateLimits `yaml:"rate_limit"`
	// Access replaces the site's access list for the route.
	Access *Access `yaml:"access"`
	// Auth replaces the site's auth for the route (off: open).
	Auth *Auth `yaml:"auth"`
	// UWSGI, SCGI and FastCGI configure the variables sent to uwsgi://,
	// scgi:// and fastcgi:// upstreams of the route's proxy.
	UWSGI   *Gateway `yaml:"uwsgi"`
	SCGI    *Gateway `yaml:"scgi"`
	FastCGI *FastCGI `yaml:"fastcgi"`
}

// RewriteRule replaces a path matching From (a regex) by To, where $1...
// stand for From's groups and $$ for a dollar sign.
type RewriteRule struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// HeaderRules change header fields: Set replaces, Add appends, Remove
// deletes. Values may hold placeholders such as {client_ip}.
type HeaderRules struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}

// Proxy forwards requests to upstream servers.
type Proxy struct {
	// To is a pool name, a URL, or a list of URLs.
	To Targets `yaml:"to"`
	// HideHeaders are upstream response headers removed in addition to the
	// defaults (Server, X-Powered-By, X-AspNet-Version, X-AspNetMvc-Version).
	HideHeaders []string `yaml:"hide_headers"`
	// PassHeaders are default-hidden headers that are passed through anyway.
	PassHeaders []string `yaml:"pass_headers"`
	// ConnectTimeout bounds connecting to an upstream (default 5s).
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// ResponseTimeout bounds the wait for the upstream's response headers
	// (default 60s); exceeding it gives 504.
	ResponseTimeout Duration `yaml:"response_timeout"`
	// IdleTimeout bounds how long the upstream may fall silent while
	// sending its response body, or take nothing of a request body it is
	// sent (default 60s).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// KeepAliveTimeout is how long an idle upstream connection is kept
	// for reuse (default 1.5s, below the 2 s after which Gunicorn's
	// gthread workers close theirs); an upstream that announces a shorter
	// Keep-Alive timeout has its connections given up sooner.
	KeepAliveTimeout Duration `yaml:"keepalive_timeout"`
	// TLS configures connections to https:// and grpcs:// upstreams.
	TLS *UpstreamTLS `yaml:"tls"`

	// Servers are To's servers when it lists URLs, parsed by validation.
	Servers []ServerEntry `yaml:"-"`
}

// UpstreamTLS configures TLS towards upstreams. By default the upstream's
// certificate is verified against the system's roots for the URL's host.
type UpstreamTLS struct {
	// CA is a PEM bundle of the CAs that sign the upstreams' certificates
	// (instead of the system roots).
	CA string `yaml:"ca"`
	// Cert and Key are a client certificate to present (mutual TLS).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name verified in the upstream's certificate and
	// sent as SNI (default: the URL's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any upstream certificate. Only for
	// networks where nobody can intercept; prefer ca.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Respond answers with a fixed response.
type Respond struct {
	Status  int               `yaml:"status"`
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// Redirect answers with a redirect.
type Redirect struct {
	// To is the target: a path or URL with placeholders ({scheme},
	// {host}, {uri}, {path}, {query}...) and, on a regex route, the
	// regex's groups ($1...).
	To     string `yaml:"to"`
	Status int    `yaml:"status"`
	// KeepQuery appends the request's query to the target (after "&"
	// when the target has one).
	KeepQuery bool `yaml:"keep_query"`

	// Target is To as validation parsed it.
	Target placeholder.Template `yaml:"-"`
}

// Static serves files from a directory.
type Static struct {
	// Root is joined with the full request path, like nginx's root.
	Root string `yaml:"root"`
	// Index lists the files tried for a directory (default index.html).
	Index []string `yaml:"index"`
	// Precompressed serves FILE.zst, FILE.br or FILE.gz as they are to
	// clients that accept that encoding.
	Precompressed bool `yaml:"precompressed"`
	// Try lists what to serve, in order: "$uri" (the file), "$uri/" (the
	// directory's index) or a fixed path such as /index.html; the last
	// entry may also be "@NAME" (the named route NAME of the site handles
	// the request) or "=CODE" (answer with that status).
	Try []string `yaml:"try"`
	// Browse lists a directory without an index file.
	Browse bool `yaml:"browse"`

	// Entries are Try's entries as validation read them.
	Entries []TryEntry `yaml:"-"`
}

// TryKind is what a try entry names.
type TryKind int

// The kinds of try entries.
const (
	TryFile  TryKind = iota // "$uri": the file
	TryDir                  // "$uri/": the directory's index
	TryPath                 // "/path": a fixed file
	TryRoute                // "@name": a named route
	TryCode                 // "=404": a status
)

// TryEntry is one entry of a static route's try list.
type TryEntry struct {
	Kind TryKind
	// Path (TryPath), Route (TryRoute) and Status (TryCode) are set by
	// kind.
	Path   string
	Route  string
	Status int
}
