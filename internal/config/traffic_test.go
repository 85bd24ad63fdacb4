package config

import (
	"os"
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

func TestAuthErrorsAreLocated(t *testing.T) {
	dir := t.TempDir()
	users := dir + "/users"
	_ = os.WriteFile(users, []byte("alice:$apr1$rQu4Q0Kl$vH5YDE3KEBvSGppwZxpTl1\n"), 0o600)
	_, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    auth: {basic: {users_file: `+users+`}, forward: {url: "http://127.0.0.1:2/auth"}}
    routes:
      - path: /
        auth: {jwt: {jwks_url: "ftp://x", jwks_file: y, algorithms: [HS256, none], from: [body x]}}
        respond: {body: x}
      - path: /b
        auth: {forward: {url: "nope", copy_headers: ["bad header"]}}
        respond: {body: x}
`), "t.yaml")
	for _, want := range []string{
		"sites[0].auth: want exactly one method",
		"sites[0].auth.basic.users_file: " + users + ":1: user \"alice\": MD5 hashes are not accepted",
		"sites[0].routes[0].auth.jwt: want one of jwks_url and jwks_file",
		`sites[0].routes[0].auth.jwt.algorithms[0]: "HS256" is not accepted`,
		`sites[0].routes[0].auth.jwt.algorithms[1]: "none" is not accepted`,
		`sites[0].routes[0].auth.jwt.from[0]: want "header NAME"`,
		`sites[0].routes[1].auth.forward.url: want the auth service's URL`,
		`sites[0].routes[1].auth.forward.copy_headers[0]: "bad header" is not a header name`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    auth: sometimes
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if want := `t.yaml:4:11: sites[0].auth: want a mapping with one method (basic, forward, jwt, client_cert, oidc) or off, got "sometimes"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q:\n%v", want, err)
	}
}

func TestOIDCSettings(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(dir+"/secret", []byte(strings.Repeat("s", 40)+"\n"), 0o600)
	cfg, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    auth: {oidc: {issuer: "http://127.0.0.1:9/", client_id: app, cookie_secret: `+dir+`/secret}}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Sites[0].Auth.OIDC
	if string(o.Secret) != strings.Repeat("s", 40) || o.RedirectPath != "/oauth2/callback" || o.LogoutPath != "/oauth2/logout" ||
		o.SessionTTL.Std() != 12*time.Hour || len(o.Scopes) != 3 {
		t.Fatalf("defaults: %+v", o)
	}
	_, err = Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    auth: {oidc: {issuer: "http://idp.example.com", cookie_secret: short, api_paths: [api]}}
    routes:
      - path: /
        auth: {oidc: {issuer: "https://idp.example.com", client_id: x, cookie_secret: /no/such/file}}
        respond: {body: x}
`), "t.yaml")
	for _, want := range []string{
		"sites[0].auth.oidc.issuer: a plain-http issuer is accepted only on a loopback address",
		"sites[0].auth.oidc.client_id: want the client ID",
		"sites[0].auth.oidc.cookie_secret: want at least 32 characters",
		`sites[0].auth.oidc.api_paths[0]: want a path prefix, got "api"`,
		"sites[0].routes[0].auth.oidc.cookie_secret: open /no/such/file",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
