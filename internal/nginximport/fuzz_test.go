package nginximport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// FuzzImport feeds arbitrary nginx configurations to the importer: it
// never panics, and either refuses the input or writes YAML that reads
// back and that Gatehouse loads (Import checks that).
func FuzzImport(f *testing.F) {
	f.Add("http { server { listen 80; location / { proxy_pass http://127.0.0.1:8000/; } } }")
	f.Add("http { upstream a { server 10.0.0.1 weight=2; least_conn; } server { listen 443 ssl; server_name .x.test \"~^re$\"; ssl_certificate c; ssl_certificate_key k; location ^~ /s/ { alias /srv/; expires max; } location ~* \\.php$ { fastcgi_pass unix:/run/php.sock; fastcgi_param SCRIPT_FILENAME /srv$fastcgi_script_name; } } }")
	f.Add("http { server { listen 80; return 301 https://$host$request_uri; } server { listen 443 ssl; add_header \"X-A\" \"{b}\\n\" always; location = /x { return 200 \"a: b\\\"c\"; } location / { rewrite ^/(a)(.*)$ /$2$1 last; root html; try_files $uri $uri/ /index.html; allow 10.0.0.0/8; deny all; } } }")
	f.Fuzz(func(t *testing.T, conf string) {
		if strings.Contains(conf, "include") {
			// Includes would read this machine's files (the corpus
			// test covers them).
			t.Skip()
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Import(file, Options{})
		if err != nil {
			// Refused: not nginx, nothing to import, or (a shortcoming
			// of the importer, but never an invalid config written) a
			// result Gatehouse would not load.
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNoServer) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("an error that is not about syntax: %v", err)
			}
			return
		}
		var doc any
		if err := yaml.Unmarshal(res.YAML, &doc); err != nil {
			t.Fatalf("the YAML written does not read back: %v\n%s", err, res.YAML)
		}
	})
}
