// Package corpus holds the nginx configurations the importer is tested
// on (written for Gatehouse, in the shapes of the Gunicorn, Flask, Django
// and PHP deployment guides), as templates whose ports, upstreams and
// directories a test fills: the importer's own tests and the e2e
// comparison with a real nginx render the same trees.
package corpus

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"text/template"
)

//go:embed testdata
var files embed.FS

// Names lists the configurations.
func Names() []string {
	entries, _ := files.ReadDir("testdata")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// Values fill a configuration's templates: Port is the address its
// server listens on (TLSPort its ssl one, with the certificate and key
// files Cert and Key), App1 and App2 its upstream servers (host:port),
// PHP and UWSGI the unix sockets of its php-fpm and uWSGI, Dir the
// directory of its content (Dir/public, Dir/assets, Dir/wp).
type Values struct {
	Port, TLSPort, Cert, Key, App1, App2, PHP, UWSGI, Dir string
	// CAFile is the CA that issued Cert, for the test's clients.
	CAFile string
}

// Render writes the configuration name into dir with values filled in
// and returns the path of its nginx.conf.
func Render(name, dir string, values Values) (string, error) {
	src := path.Join("testdata", name)
	err := fs.WalkDir(files, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := p[len(src):]
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		tmpl, err := template.ParseFS(files, p)
		if err != nil {
			return err
		}
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		defer f.Close()
		return tmpl.Execute(f, values)
	})
	if err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return filepath.Join(dir, "nginx.conf"), nil
}
