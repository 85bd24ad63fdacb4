// Package static serves files from a directory the way nginx's root does:
// the full request path is looked up under the root. Index files are served
// for directories, try lists fallbacks (single-page apps), precompressed
// siblings (.zst, .br, .gz) are sent as they are to clients that accept
// them, directory listings are off unless asked for, dotfiles (other than
// /.well-known/) are refused, and no path can leave the root, through ".."
// or through symlinks.
package static

import (
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/compress"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/route"
)

// Handler serves one root directory.
type Handler struct {
	root          *os.Root
	index         []string
	try           []config.TryEntry
	named         map[string]http.Handler
	precompressed bool
	browse        bool
}

// New opens cfg.Root; Close releases it. named are the site's named
// routes, which an "@name" entry of the try list hands the request to.
func New(cfg config.Static, named map[string]http.Handler) (*Handler, error) {
	if len(cfg.Entries) != len(cfg.Try) {
		return nil, errors.New("static: the try list was not validated")
	}
	for _, e := range cfg.Entries {
		if e.Kind == config.TryRoute && named[e.Route] == nil {
			return nil, fmt.Errorf("static: no route named %q", e.Route)
		}
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("static root: %w", err)
	}
	return &Handler{root: root, index: cfg.Index, try: cfg.Entries, named: named, precompressed: cfg.Precompressed, browse: cfg.Browse}, nil
}

// Close releases the root directory.
func (h *Handler) Close() error { return h.root.Close() }

// ServeHTTP serves the file named by the request path, or what try names.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := route.CleanPath(r.URL.Path)
	if hasDotSegment(p) {
		errpage.Write(w, http.StatusNotFound)
		return
	}
	if len(h.try) == 0 {
		// As nginx: a POST finds out whether the file exists (404) before
		// being refused (405); other methods are refused at once.
		if r.Method == http.MethodPost {
			if _, err := h.root.Stat(relName(p)); err != nil {
				errpage.Write(w, statusFor(err))
				return
			}
		}
		if readOnly(w, r) {
			h.serve(w, r, p, true)
		}
		return
	}
	for i, t := range h.try {
		last := i == len(h.try)-1
		switch t.Kind {
		case config.TryFile:
			if fi, err := h.root.Stat(relName(p)); err == nil && !fi.IsDir() {
				if readOnly(w, r) {
					h.serve(w, r, p, false)
				}
				return
			}
		case config.TryDir:
			if fi, err := h.root.Stat(relName(p)); err == nil && fi.IsDir() {
				dir := strings.TrimSuffix(p, "/") + "/"
				if f, fi, err := h.openIndex(relName(dir)); err == nil {
					defer f.Close()
					if readOnly(w, r) {
						h.sendFile(w, r, dir+fi.Name(), f, fi)
					}
					return
				}
			}
		case config.TryRoute, config.TryCode:
			endTry(w, r, t, h.named)
			return
		case config.TryPath:
			if last {
				// The fallback: a fixed path, served whatever the request.
				if readOnly(w, r) {
					h.serve(w, r, route.CleanPath(t.Path), false)
				}
				return
			}
			if fi, err := h.root.Stat(relName(route.CleanPath(t.Path))); err == nil && !fi.IsDir() {
				if readOnly(w, r) {
					h.serve(w, r, route.CleanPath(t.Path), false)
				}
				return
			}
		}
	}
	errpage.Write(w, http.StatusNotFound)
}

// endTry answers with what a try list's last entry names: the named
// route (what no file answers goes there, any method) or a status.
func endTry(w http.ResponseWriter, r *http.Request, t config.TryEntry, named map[string]http.Handler) {
	if t.Kind == config.TryRoute {
		named[t.Route].ServeHTTP(w, r)
		return
	}
	errpage.Write(w, t.Status)
}

// readOnly answers 405 to a method other than GET and HEAD, which files
// do not take, and reports whether the request may go on.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	errpage.Write(w, http.StatusMethodNotAllowed)
	return false
}

// relName is p as a name inside the root.
func relName(p string) string {
	name := strings.TrimPrefix(p, "/")
	if name == "" {
		return "."
	}
	return strings.TrimSuffix(name, "/")
}

// serve sends the file or directory index at p; dirRedirect sends a
// directory named without its slash to the slashed name.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, p string, dirRedirect bool) {
	name := relName(p)
	f, fi, err := h.open(name)
	if err != nil {
		errpage.Write(w, statusFor(err))
		return
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(p, "/") && dirRedirect {
			target := p + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", target)
			errpage.Write(w, http.StatusMovedPermanently)
			return
		}
		f, fi, err = h.openIndex(name)
		if err != nil {
			if h.browse && errors.Is(err, fs.ErrNotExist) {
				h.list(w, r, name)
				return
			}
			errpage.Write(w, statusFor(err))
			return
		}
		p = strings.TrimSuffix(p, "/") + "/" + fi.Name()
	}
	defer f.Close()
	h.sendFile(w, r, p, f, fi)
}

// sendFile sends an open file, or its precompressed sibling when allowed
// and the client accepts it. Range, If-None-Match and If-Modified-Since
// are handled by http.ServeContent; plain files go out through sendfile.
func (h *Handler) sendFile(w http.ResponseWriter, r *http.Request, p string, f *os.File, fi fs.FileInfo) {
	hdr := w.Header()
	if h.precompressed {
		if cf, cfi, enc := h.openPrecompressed(r, relName(p)); cf != nil {
			defer cf.Close()
			hdr["Vary"] = append(hdr["Vary"], "Accept-Encoding")
			hdr.Set("Content-Encoding", enc)
			if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
				hdr.Set("Content-Type", ct)
			} else {
				hdr.Set("Content-Type", "application/octet-stream")
			}
			hdr.Set("ETag", etag(cfi))
			http.ServeContent(w, r, fi.Name(), fi.ModTime(), cf)
			return
		}
		hdr["Vary"] = append(hdr["Vary"], "Accept-Encoding")
	}
	hdr.Set("ETag", etag(fi))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// precompressedExt are the sibling files by encoding.
var precompressedExt = map[string]string{compress.Zstd: ".zst", compress.Brotli: ".br", compress.Gzip: ".gz"}

// openPrecompressed opens the best sibling of name the client accepts.
func (h *Handler) openPrecompressed(r *http.Request, name string) (*os.File, fs.FileInfo, string) {
	ae := r.Header["Accept-Encoding"]
	offered := []string{compress.Zstd, compress.Brotli, compress.Gzip}
	for len(offered) > 0 {
		enc := compress.Negotiate(ae, offered)
		if enc == "" {
			return nil, nil, ""
		}
		if f, fi, err := h.open(name + precompressedExt[enc]); err == nil && !fi.IsDir() {
			return f, fi, enc
		} else if f != nil {
			f.Close()
		}
		offered = slices.DeleteFunc(offered, func(e string) bool { return e == enc })
	}
	return nil, nil, ""
}

// list answers with an HTML listing of directory name (browse: true).
func (h *Handler) list(w http.ResponseWriter, r *http.Request, name string) {
	d, err := h.root.Open(name)
	if err != nil {
		errpage.Write(w, statusFor(err))
		return
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		errpage.Write(w, http.StatusForbidden)
		return
	}
	var b strings.Builder
	title := html.EscapeString(route.CleanPath(r.URL.Path))
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body><h1>%s</h1>\n<ul>\n", title, title)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", html.EscapeString((&url.URL{Path: n}).EscapedPath()), html.EscapeString(n))
	}
	b.WriteString("</ul></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}

func (h *Handler) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// openIndex opens the first index file present in directory dir.
func (h *Handler) openIndex(dir string) (*os.File, fs.FileInfo, error) {
	for _, idx := range h.index {
		f, fi, err := h.open(dir + "/" + idx)
		if err == nil && !fi.IsDir() {
			return f, fi, nil
		}
		if f != nil {
			f.Close()
		}
	}
	return nil, nil, fs.ErrNotExist
}

// etag is the validator nginx uses: modification time and size in hex.
func etag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().Unix(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`
}

// hasDotSegment reports whether a path segment starts with "." other than
// the /.well-known/ directory.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			return true
		}
	}
	return false
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	default:
		// Includes paths that would escape the root through a symlink.
		return http.StatusNotFound
	}
}
