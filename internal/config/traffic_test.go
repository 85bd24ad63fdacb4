package config

import (
	"strings"
	"testing"
	"time"
)

func TestAccessOrderFollowsTheKeys(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    access: {allow: [10.0.0.0/8], deny: [all]}
    routes:
      - path: /
        respond: {body: x}
      - path: /b/
        access:
          deny: [10.1.0.0/16]
          allow: [10.0.0.0/8]
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sites[0].Access.DenyFirst || !cfg.Sites[0].Routes[1].Access.DenyFirst {
		t.Fatalf("deny first: site %v route %v", cfg.Sites[0].Access.DenyFirst, cfg.Sites[0].Routes[1].Access.DenyFirst)
	}
	if len(cfg.Sites[0].Routes[1].Access.AllowPrefixes) != 1 {
		t.Fatal("entries not parsed")
	}
}

func TestTrafficDefenceKeys(t *testing.T) {
	cfg, err := Parse([]byte(`
trusted_proxies: [10.0.0.0/24]
bans: {threshold: 20}
sites:
  - listen: ["proxy+http://127.0.0.1:2", "http://127.0.0.1:1"]
    conn_limit: {per_ip: 20, total: 1000}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Bans; b.Window.Std() != 10*time.Second || b.Duration.Std() != time.Minute || len(b.Statuses) != 5 {
		t.Fatalf("ban defaults: %+v", b)
	}
	if l, _ := ParseListen(cfg.Sites[0].Listen[0]); !l.Proxy || l.Scheme != "http" {
		t.Fatalf("listen: %+v", l)
	}

	_, err = Parse([]byte(`
bans: {threshold: 0, window: 10ms, statuses: [42]}
sites:
  - listen: ["proxy+http://127.0.0.1:1"]
    conn_limit: {per_ip: 5}
    routes:
      - path: /
        respond: {body: x}
  - listen: ["http://127.0.0.1:1"]
    hosts: [b.test]
    conn_limit: {per_ip: 6}
    routes:
      - path: /
        respond: {body: x}
  - listen: ["ftp+http://127.0.0.1:3"]
    conn_limit: {}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	for _, want := range []string{
		"bans.threshold: want how many",
		"bans.window: want at least 1s",
		"bans.statuses[0]: want an HTTP status, got 42",
		"sites[0].listen[0]: proxy+http://127.0.0.1:1 takes the PROXY protocol only from trusted_proxies",
		"sites[1].listen[0]: 127.0.0.1:1 is http here but proxy+http in sites[0]",
		"sites[1].conn_limit: 127.0.0.1:1 has another conn_limit in sites[0]",
		`sites[2].listen[0]: unknown scheme "ftp+http"`,
		"sites[2].conn_limit: set per_ip, total or both",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
