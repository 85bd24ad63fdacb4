package nginximport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/nginximport/corpus"
)

// Every configuration of the corpus imports, and the result validates
// (with the directories it names present).
func TestCorpusImportsAndValidates(t *testing.T) {
	// The warnings expected, by directive.
	warnings := map[string][]string{"lb": {"add_header"}}
	for _, name := range corpus.Names() {
		wantWarnings := warnings[name]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, sub := range []string{"public", "assets", "wp"} {
				if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, body := range map[string]string{"public/500.html": "<h1>down</h1>\n", "htpasswd": "admin:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			conf, err := corpus.Render(name, filepath.Join(dir, "conf"), corpus.Values{
				Port: "127.0.0.1:18080", App1: "127.0.0.1:18081", App2: "127.0.0.1:18082", PHP: "/run/php/php-fpm.sock", Dir: dir,
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(conf)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range res.Warnings {
				got = append(got, w.Directive)
				t.Log(w)
			}
			if strings.Join(got, ",") != strings.Join(wantWarnings, ",") {
				t.Errorf("warnings on %v, want on %v", got, wantWarnings)
			}
			if _, err := config.Parse(res.YAML, filepath.Join(dir, "gatehouse.yaml")); err != nil {
				t.Fatalf("the import does not validate: %v\n%s", err, res.YAML)
			}
			t.Logf("\n%s", res.YAML)
		})
	}
}
