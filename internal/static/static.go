// Package static serves files from a directory the way nginx's root does:
// the full request path is looked up under the root. Index files are served
// for directories, dotfiles (other than /.well-known/) are refused, and no
// path can leave the root, through ".." or through symlinks.
package static

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/route"
)

// Handler serves one root directory.
type Handler struct {
	root  *os.Root
	index []string
}

// New opens cfg.Root; Close releases it.
func New(cfg config.Static) (*Handler, error) {
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("static root: %w", err)
	}
	return &Handler{root: root, index: cfg.Index}, nil
}

// Close releases the root directory.
func (h *Handler) Close() error { return h.root.Close() }

// ServeHTTP serves the file named by the request path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		errpage.Write(w, http.StatusMethodNotAllowed)
		return
	}
	p := route.CleanPath(r.URL.Path)
	if hasDotSegment(p) {
		errpage.Write(w, http.StatusNotFound)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" {
		name = "."
	}
	f, fi, err := h.open(name)
	if err != nil {
		errpage.Write(w, statusFor(err))
		return
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(p, "/") {
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
			errpage.Write(w, statusFor(err))
			return
		}
	}
	defer f.Close()
	w.Header().Set("ETag", etag(fi))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
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
