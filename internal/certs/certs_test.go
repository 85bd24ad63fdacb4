package certs

import (
	"crypto/tls"
	"io"
	"log/slog"
	"slices"
	"testing"
)

// fakeFile is a File whose certificate is named by its leaf's first
// "certificate" bytes, enough to tell sources apart.
func fakeFile(name string) *File {
	f := &File{stop: make(chan struct{})}
	f.cert.Store(&tls.Certificate{Certificate: [][]byte{[]byte(name)}})
	return f
}

func served(t *testing.T, sel *Selector, sni string) string {
	t.Helper()
	c, err := sel.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
	if err != nil {
		t.Fatalf("SNI %q: %v", sni, err)
	}
	return string(c.Certificate[0])
}

func TestSelectorPicksBySNIWithFallback(t *testing.T) {
	sel := NewSelector()
	for _, s := range []struct {
		hosts []string
		name  string
	}{{[]string{"a.test"}, "a"}, {[]string{"*.w.test"}, "w"}, {[]string{"*.x.w.test"}, "xw"}} {
		if err := sel.Add(s.hosts, fakeFile(s.name)); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"a.test": "a", "A.TEST": "a", "a.test.": "a",
		"b.w.test": "w", "deep.b.w.test": "w", "c.x.w.test": "xw",
		"": "a", "unknown.test": "a", // the first site when no site is hostless
	}
	for sni, want := range cases {
		if got := served(t, sel, sni); got != want {
			t.Errorf("SNI %q: got %s, want %s", sni, got, want)
		}
	}
	if err := sel.Add(nil, fakeFile("default")); err != nil {
		t.Fatal(err)
	}
	if got := served(t, sel, "unknown.test"); got != "default" {
		t.Errorf("with a hostless site, an unknown name got %s", got)
	}
	if got := served(t, sel, ""); got != "default" {
		t.Errorf("with a hostless site, no SNI got %s", got)
	}
}

func TestServerConfigIsModernAndAcceptsACMEOnlyWhenUsed(t *testing.T) {
	sel := NewSelector()
	_ = sel.Add([]string{"a.test"}, fakeFile("a"))
	cfg := ServerConfig(sel)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	for _, id := range cfg.CipherSuites {
		for _, insecure := range tls.InsecureCipherSuites() {
			if id == insecure.ID {
				t.Errorf("insecure suite %s offered", insecure.Name)
			}
		}
	}
	if slices.Contains(cfg.NextProtos, ACMETLSProtocol) {
		t.Error("acme-tls/1 offered without an ACME site")
	}

	m := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), ManagerOptions{})
	defer m.Close()
	_ = sel.Add([]string{"b.test"}, m.NewACME(ACMESettings{Names: []string{"b.test"}, Storage: t.TempDir(), TLSPort: 443}))
	if got := ServerConfig(sel).NextProtos; !slices.Equal(got, []string{"h2", "http/1.1", ACMETLSProtocol}) {
		t.Errorf("NextProtos with an ACME site: %v", got)
	}
}
