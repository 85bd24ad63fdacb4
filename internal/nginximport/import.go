// Package nginximport reads an nginx configuration (with its includes)
// and writes the equivalent Gatehouse configuration as YAML, with a
// comment on each site and route naming the nginx file and line it came
// from, and a warning for every directive it could not carry over.
// `gatehouse import nginx` is its command.
package nginximport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// Warning is a directive not carried over, or carried over with a
// difference the user should know about.
type Warning struct {
	File      string
	Line      int
	Directive string
	Reason    string
}

// String is the warning as printed: FILE:LINE: warning: DIRECTIVE: REASON.
func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: warning: %s: %s", w.File, w.Line, w.Directive, w.Reason)
}

// Result is an imported configuration.
type Result struct {
	// YAML is the Gatehouse configuration.
	YAML []byte
	// Warnings are in the order of the nginx files.
	Warnings []Warning
	// Missing are the problems Gatehouse's config loader finds with the
	// files and directories the config names, on this machine.
	Missing []string
}

// ErrSyntax wraps the error of an input that is not valid nginx syntax.
var ErrSyntax = errors.New("not a valid nginx configuration")

// ErrInvalid is the error of an import whose result Gatehouse's config
// loader refuses for a reason other than a file missing on this machine:
// a shortcoming of the importer (please report it), never written out.
var ErrInvalid = errors.New("the imported config does not validate")

// ErrNoServer is the error of a configuration with no server to import.
var ErrNoServer = errors.New("no server block in an http block: nothing to import")

// Options adjust an import.
type Options struct {
	// Prefix, as nginx's -p, is the directory relative paths resolve
	// against (includes, roots, certificates); "": the file's directory.
	Prefix string
}

// Import reads the nginx configuration at file, following its includes
// (globs, relative to the file's directory as nginx resolves them, or to
// opt.Prefix), and maps it.
func Import(file string, opt Options) (*Result, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	po := &crossplane.ParseOptions{StopParsingOnError: true}
	if opt.Prefix != "" {
		prefix, err := filepath.Abs(opt.Prefix)
		if err != nil {
			return nil, err
		}
		// crossplane joins relative includes to the file's directory:
		// send them to the prefix instead.
		confDir := dir
		under := func(p string) string {
			if rest, ok := strings.CutPrefix(p, confDir+string(filepath.Separator)); ok {
				return filepath.Join(prefix, rest)
			}
			return p
		}
		po.Open = func(p string) (io.ReadCloser, error) {
			if p != abs {
				p = under(p)
			}
			return os.Open(p)
		}
		po.Glob = func(p string) ([]string, error) { return filepath.Glob(under(p)) }
		dir = prefix
	}
	payload, err := crossplane.Parse(abs, po)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if len(payload.Errors) > 0 {
		e := payload.Errors[0]
		return nil, fmt.Errorf("%w: %v", ErrSyntax, e.Error)
	}
	for _, c := range payload.Config {
		markFiles(c.Parsed, c.File)
	}
	top := expandIncludes(payload.Config[0].Parsed, payload)
	return Map(top, dir)
}

// markFiles records on every directive the file it was read from, and
// reads nginx's escapes in its arguments.
func markFiles(ds crossplane.Directives, file string) {
	for _, d := range ds {
		if d.File == "" {
			d.File = file
		}
		for i, a := range d.Args {
			d.Args[i] = unescape(a)
		}
		markFiles(d.Block, file)
	}
}

// unescape reads the escapes nginx reads in a token: \" \' \\ \t \r
// \n; any other backslash stays (regexes keep theirs).
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '"', '\'', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// expandIncludes replaces every include by the directives of the files it
// names, at every depth.
func expandIncludes(ds crossplane.Directives, p *crossplane.Payload) crossplane.Directives {
	var out crossplane.Directives
	for _, d := range ds {
		if d.IsInclude() {
			for _, i := range d.Includes {
				if i >= 0 && i < len(p.Config) {
					out = append(out, expandIncludes(p.Config[i].Parsed, p)...)
				}
			}
			continue
		}
		if d.Block != nil {
			d.Block = expandIncludes(d.Block, p)
		}
		out = append(out, d)
	}
	return out
}

// Map maps parsed nginx directives (the main context, includes expanded)
// to a Gatehouse configuration; dir is the directory relative paths in
// the configuration resolve against (nginx.conf's). The YAML is checked
// by Gatehouse's own config loader before it is returned.
func Map(top crossplane.Directives, dir string) (*Result, error) {
	m := &mapper{dir: dir, upstreams: map[string]bool{}, schemes: map[string]string{}, reqZones: map[string][2]string{}, connZones: map[string]string{}, cacheZones: map[string]string{}, upstreamAddrs: map[string]string{}}
	out := m.main(top)
	if sites := out.get("sites"); sites == nil || len(sites.items) == 0 {
		return nil, ErrNoServer
	}
	yaml := []byte(write(out))
	sort.SliceStable(m.warnings, func(i, j int) bool {
		if m.warnings[i].File != m.warnings[j].File {
			return false
		}
		return m.warnings[i].Line < m.warnings[j].Line
	})
	res := &Result{YAML: yaml, Warnings: m.warnings}
	if _, err := config.Parse(yaml, filepath.Join(dir, "gatehouse.yaml")); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			switch {
			case line == "":
			case environmental(line):
				res.Missing = append(res.Missing, line)
			default:
				return nil, fmt.Errorf("%w: %s", ErrInvalid, line)
			}
		}
	}
	return res, nil
}

// environmental reports whether a validation problem is about a file or
// directory missing on this machine, not about the config's shape.
func environmental(problem string) bool {
	for _, s := range []string{"no such file", "not a readable directory", "is not a directory", "cannot read", "permission denied"} {
		if strings.Contains(problem, s) {
			return true
		}
	}
	return false
}

// mapper holds the state of one import.
type mapper struct {
	dir       string
	warnings  []Warning
	upstreams map[string]bool
	// schemes is the scheme each upstream is used with (http, uwsgi...).
	schemes map[string]string
	// httpMaxBody is the http level's client_max_body_size (or nginx's 1m).
	httpMaxBody string
	// serverMaxBody and serverGzip are the server being mapped's, which
	// its site carries (a route only when its location differs).
	serverMaxBody string
	serverGzip    bool
	// serverLimits is the server's limit_req list, which its site carries.
	serverLimits []limitReq
	// reqZones and connZones are the http level's limit_req_zone and
	// limit_conn_zone: a zone's key and rate.
	reqZones  map[string][2]string
	connZones map[string]string
	// php is the server's PHP location and phpRoute its route, for
	// front controllers (frontController).
	php      *loc
	phpRoute *node
	// serverLocs are the server's locations, flattened.
	serverLocs []loc
	// upstreamAddrs is each upstream's first server (host:port).
	upstreamAddrs map[string]string
	// cacheZones are proxy_cache_path's zones, with their inactive time.
	cacheZones map[string]string
}

// warn records a warning about d.
func (m *mapper) warn(d *crossplane.Directive, format string, args ...any) {
	m.warnings = append(m.warnings, Warning{File: m.rel(d.File), Line: d.Line, Directive: d.Directive, Reason: fmt.Sprintf(format, args...)})
}

// unsupported records the standard warning for a directive left out.
func (m *mapper) unsupported(d *crossplane.Directive, what string) {
	m.warn(d, "not supported (%s)", what)
}

// rel is file relative to nginx.conf's directory when inside it.
func (m *mapper) rel(file string) string {
	if r, err := filepath.Rel(m.dir, file); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return file
}

// from is the comment naming where d came from.
func (m *mapper) from(d *crossplane.Directive) string {
	return fmt.Sprintf("from %s:%d", m.rel(d.File), d.Line)
}

// path resolves a path of the nginx configuration to an absolute one.
func (m *mapper) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(m.dir, p)
}
