package config

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/placeholder"
)

// Gateway configures the CGI-style variables a route sends to uwsgi:// or
// scgi:// upstreams, beyond the standard ones.
type Gateway struct {
	// ScriptName is the mount point of the application, sent as
	// SCRIPT_NAME; PATH_INFO is then the path below it (uWSGI's
	// --mount and Django's FORCE_SCRIPT_NAME use it). Default empty.
	ScriptName string `yaml:"script_name"`
	// Params are extra variables, as nginx's uwsgi_param and scgi_param;
	// values may hold placeholders such as {client_ip}.
	Params map[string]string `yaml:"params"`
}

// FastCGI configures a route whose proxy sends to fastcgi:// upstreams
// (php-fpm): where scripts live and how a path maps to one.
type FastCGI struct {
	// Root is the document root on the FastCGI server's file system:
	// DOCUMENT_ROOT, and SCRIPT_FILENAME is Root plus the script's path.
	Root string `yaml:"root"`
	// Index is appended to paths that end in "/" (default index.php).
	Index string `yaml:"index"`
	// SplitPath is a regex with two groups that splits the path into the
	// script's name and PATH_INFO, as nginx's fastcgi_split_path_info
	// (default "^(.+?\.php)(/.*)$").
	SplitPath string `yaml:"split_path"`
	// Params are extra variables, as nginx's fastcgi_param; values may
	// hold placeholders such as {client_ip}.
	Params map[string]string `yaml:"params"`
	// KeepConn keeps connections open for further requests (nginx's
	// fastcgi_keep_conn). Off by default: a php-fpm worker waits on an
	// idle kept connection, so with fewer workers than concurrent
	// requests, requests on new connections would wait for one.
	KeepConn bool `yaml:"keep_conn"`
	// Try makes the route a front controller, as nginx's try_files before
	// a PHP location: "$uri" serves an existing file (statically, unless
	// it is a script, which runs), "$uri/" runs a directory's index
	// script, and a last "/index.php" runs that script for everything
	// else, REQUEST_URI staying as the client sent it. Root must then be
	// a directory Gatehouse reads too. A script is never sent as a file.
	Try []string `yaml:"try"`

	// Split is SplitPath compiled by validation; Entries is Try read.
	Split   *regexp.Regexp `yaml:"-"`
	Entries []TryEntry     `yaml:"-"`
}

// DefaultFastCGISplitPath is the split_path of a fastcgi block that names
// none.
const DefaultFastCGISplitPath = `^(.+?\.php)(/.*)$`

// gatewayDefaults fills in a route's FastCGI defaults; dir resolves a
// relative root.
func gatewayDefaults(dir string, r *Route) {
	if f := r.FastCGI; f != nil {
		if f.Index == "" {
			f.Index = "index.php"
		}
		if f.SplitPath == "" {
			f.SplitPath = DefaultFastCGISplitPath
		}
		f.Root = resolvePath(dir, f.Root)
	}
}

// validateGateway checks a route's uwsgi, scgi and fastcgi blocks against
// the protocol of the servers its proxy sends to (scheme, "" when the
// route has no proxy).
func validateGateway(r *Route, scheme string, at keyPath, report func(keyPath, string)) {
	for _, g := range []struct {
		key, scheme string
		set         bool
	}{{"uwsgi", "uwsgi", r.UWSGI != nil}, {"scgi", "scgi", r.SCGI != nil}, {"fastcgi", "fastcgi", r.FastCGI != nil}} {
		if !g.set {
			continue
		}
		switch {
		case r.Proxy == nil:
			report(at.key(g.key), fmt.Sprintf("%s configures a proxy to %s:// servers: the route needs proxy: {to: %s://HOST:PORT} beside it", g.key, g.scheme, g.scheme))
		case scheme != "" && scheme != g.scheme:
			report(at.key(g.key), fmt.Sprintf("%s applies to %s:// upstreams, but the route proxies to %s://", g.key, g.scheme, scheme))
		}
	}
	for _, g := range []struct {
		key string
		gw  *Gateway
	}{{"uwsgi", r.UWSGI}, {"scgi", r.SCGI}} {
		if g.gw == nil {
			continue
		}
		if sn := g.gw.ScriptName; sn != "" && (!strings.HasPrefix(sn, "/") || strings.HasSuffix(sn, "/")) {
			report(at.key(g.key).key("script_name"), fmt.Sprintf("want a path such as /app (starting with / and not ending with one), got %q", sn))
		}
		validateParams(g.gw.Params, at.key(g.key).key("params"), report)
	}
	f := r.FastCGI
	if f == nil {
		if scheme == "fastcgi" {
			report(at.key("proxy"), "a route to fastcgi:// servers needs fastcgi: {root: DIR} beside proxy, DIR being where the scripts are on the FastCGI server")
		}
		return
	}
	fat := at.key("fastcgi")
	if f.Root == "" {
		report(fat.key("root"), "missing root: the directory of the scripts on the FastCGI server, e.g. /var/www/html")
	} else if fi, err := os.Stat(f.Root); err == nil && !fi.IsDir() {
		report(fat.key("root"), fmt.Sprintf("%s is not a directory", f.Root))
	} else if err != nil && len(f.Try) > 0 {
		report(fat.key("root"), fmt.Sprintf("%s is not a readable directory: with try, Gatehouse serves the files that are not scripts from it", f.Root))
	}
	if f.Index == "" || strings.ContainsRune(f.Index, '/') {
		report(fat.key("index"), fmt.Sprintf("index %q must be a plain file name", f.Index))
	}
	re, err := regexp.Compile(f.SplitPath)
	switch {
	case err != nil:
		report(fat.key("split_path"), fmt.Sprintf("invalid regex: %v", err))
	case re.NumSubexp() != 2:
		report(fat.key("split_path"), fmt.Sprintf("needs two groups (the script's path and PATH_INFO), has %d", re.NumSubexp()))
	default:
		f.Split = re
	}
	validateParams(f.Params, fat.key("params"), report)
}

// validateParams checks extra CGI variables: names of letters, digits and
// underscores, values with known placeholders.
func validateParams(params map[string]string, at keyPath, report func(keyPath, string)) {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !validParamName(n) {
			report(at.key(n), fmt.Sprintf("%q: a variable name is letters, digits and underscores", n))
			continue
		}
		if _, err := placeholder.Parse(params[n]); err != nil {
			report(at.key(n), err.Error())
		}
	}
}

func validParamName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
