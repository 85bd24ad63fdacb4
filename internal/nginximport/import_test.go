package nginximport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
			writeSelfSigned(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
			conf, err := corpus.Render(name, filepath.Join(dir, "conf"), corpus.Values{
				Port: "127.0.0.1:18080", App1: "127.0.0.1:18081", App2: "127.0.0.1:18082", PHP: "/run/php/php-fpm.sock", UWSGI: "/run/uwsgi/app.sock", Dir: dir,
				TLSPort: "127.0.0.1:18443", Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"),
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(conf, Options{})
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

// writeSelfSigned writes a self-signed certificate and its key.
func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "secure.example.test"},
		DNSNames: []string{"secure.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
