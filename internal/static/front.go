package static

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/route"
)

// Front is a FastCGI route's front controller (fastcgi.try): files that
// are not scripts are served from the document root, scripts and the
// fallback script run on the FastCGI server (run, the route's proxy),
// and a script is never sent as a file.
type Front struct {
	files *Handler
	try   []config.TryEntry
	named map[string]http.Handler
	run   http.Handler
	index string
	ext   string
	split *regexp.Regexp
}

// NewFront opens cfg.Root for a front controller whose scripts run
// through run; named are the site's named routes. Close releases the
// root.
func NewFront(cfg config.FastCGI, named map[string]http.Handler, run http.Handler) (*Front, error) {
	if len(cfg.Entries) != len(cfg.Try) {
		return nil, fmt.Errorf("fastcgi: the try list was not validated")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("fastcgi root: %w", err)
	}
	return &Front{files: &Handler{root: root}, try: cfg.Entries, named: named, run: run,
		index: cfg.Index, ext: path.Ext(cfg.Index), split: cfg.Split}, nil
}

// Close releases the root.
func (f *Front) Close() error { return f.files.Close() }

// script reports whether p names a script: it ends with the index's
// extension (.php), or split_path finds a script in it (PATH_INFO after).
func (f *Front) script(p string) bool {
	if f.ext != "" && strings.HasSuffix(p, f.ext) {
		return true
	}
	return f.split != nil && f.split.MatchString(p)
}

// runAs runs the script at p for r: the path the FastCGI variables are
// made from changes, REQUEST_URI and the query stay the client's.
func (f *Front) runAs(w http.ResponseWriter, r *http.Request, p string) {
	if p != r.URL.Path {
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		r = &r2
	}
	f.run.ServeHTTP(w, r)
}

// ServeHTTP tries the entries in order.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := route.CleanPath(r.URL.Path)
	if hasDotSegment(p) {
		errpage.Write(w, http.StatusNotFound)
		return
	}
	for i, t := range f.try {
		last := i == len(f.try)-1
		switch t.Kind {
		case config.TryFile:
			if fi, err := f.files.root.Stat(relName(p)); err == nil && !fi.IsDir() {
				f.serveOrRun(w, r, p)
				return
			}
		case config.TryDir:
			if fi, err := f.files.root.Stat(relName(p)); err == nil && fi.IsDir() {
				if !strings.HasSuffix(p, "/") {
					// A directory named without its slash: to the
					// slashed name first, as nginx does.
					f.files.serve(w, r, p, true)
					return
				}
				dir := p
				if fi, err := f.files.root.Stat(relName(dir + f.index)); err == nil && !fi.IsDir() {
					f.runAs(w, r, dir)
					return
				}
				// A directory without its index script: nginx's 403.
				errpage.Write(w, http.StatusForbidden)
				return
			}
		case config.TryPath:
			target, _, _ := strings.Cut(t.Path, "?")
			target = route.CleanPath(target)
			if last {
				f.serveOrRun(w, r, target)
				return
			}
			if fi, err := f.files.root.Stat(relName(target)); err == nil && !fi.IsDir() {
				f.serveOrRun(w, r, target)
				return
			}
		case config.TryRoute, config.TryCode:
			endTry(w, r, t, f.named)
			return
		}
	}
	errpage.Write(w, http.StatusNotFound)
}

// serveOrRun runs the script at p, or sends the file at p.
func (f *Front) serveOrRun(w http.ResponseWriter, r *http.Request, p string) {
	if f.script(p) {
		f.runAs(w, r, p)
		return
	}
	if readOnly(w, r) {
		f.files.serve(w, r, p, false)
	}
}
