// Package config defines the Gatehouse configuration file: typed structs for
// every key, strict YAML decoding (unknown keys are errors), defaults and
// validation. Every problem is reported with the file, line and column of the
// offending key.
package config

// Config is the whole configuration file.
type Config struct {
	// Admin is the address of the admin API ("off" disables it).
	Admin string `yaml:"admin"`
	// PIDFile, when set, receives the process ID so that `gatehouse reload`
	// can signal the running instance.
	PIDFile string `yaml:"pid_file"`
	// TrustedProxies lists the CIDRs (or single addresses) whose forwarding
	// headers (X-Forwarded-*, Forwarded, X-Real-IP, X-Request-ID) are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShutdownTimeout bounds how long a stopping or reloading instance waits
	// for requests in flight.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Log configures the error log.
	Log Log `yaml:"log"`
	// AccessLog configures the access log.
	AccessLog AccessLog `yaml:"access_log"`
	// Upstreams holds the named upstream pools.
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Sites are the virtual hosts.
	Sites []Site `yaml:"sites"`

	// File is the path the config was read from ("" for built-in configs).
	File string `yaml:"-"`
	// Dir is the directory relative paths are resolved against.
	Dir string `yaml:"-"`
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
	// Output is stdout (default), stderr, off, or a file path.
	Output string `yaml:"output"`
}

// Upstream is a named pool of upstream servers.
type Upstream struct {
	Servers []ServerEntry `yaml:"servers"`
	// Balance is the balancing policy; round_robin is the default.
	Balance string `yaml:"balance"`
}

// ServerEntry is one upstream server: a URL string or {url, weight}.
type ServerEntry struct {
	URL    string `yaml:"url"`
	Weight int    `yaml:"weight"`
}

// Site is a virtual host: the listeners it is served on, its host names and
// its routes.
type Site struct {
	// Listen holds addresses as [scheme://]host:port.
	Listen []string `yaml:"listen"`
	// Hosts holds exact names and "*." wildcards; empty means the default
	// site of its listeners.
	Hosts []string `yaml:"hosts"`
	// Routes are matched by path: exact, then regex in file order, then the
	// longest prefix.
	Routes []Route `yaml:"routes"`
}

// Route is a path matcher plus exactly one handler.
type Route struct {
	// Path is "= /exact", "~ regex", "~* case-insensitive regex" or a prefix.
	Path     string    `yaml:"path"`
	Proxy    *Proxy    `yaml:"proxy"`
	Respond  *Respond  `yaml:"respond"`
	Redirect *Redirect `yaml:"redirect"`
	Static   *Static   `yaml:"static"`
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
}

// Respond answers with a fixed response.
type Respond struct {
	Status  int               `yaml:"status"`
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// Redirect answers with a redirect.
type Redirect struct {
	To     string `yaml:"to"`
	Status int    `yaml:"status"`
}

// Static serves files from a directory.
type Static struct {
	// Root is joined with the full request path, like nginx's root.
	Root string `yaml:"root"`
	// Index lists the files tried for a directory (default index.html).
	Index []string `yaml:"index"`
}
