package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWAFSettingsMergeAndDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    waf: {paranoia: 2, exclude: [942100], anomaly_threshold: {inbound: 10}}
    routes:
      - path: /
        respond: {body: x}
      - path: /watch/
        waf: {mode: detect, exclude: [920350]}
        respond: {body: x}
      - path: /open/
        waf: off
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &cfg.Sites[0]
	p := EffectiveWAF(s, &s.Routes[0])
	if p == nil || !p.Block || p.Paranoia != 2 || p.Inbound != 10 || p.Outbound != DefaultWAFOutbound || len(p.Exclude) != 1 || !p.Responses {
		t.Fatalf("site policy: %+v", p)
	}
	p = EffectiveWAF(s, &s.Routes[1])
	if p == nil || p.Block || p.Paranoia != 2 || len(p.Exclude) != 2 {
		t.Fatalf("route policy: %+v", p)
	}
	if p := EffectiveWAF(s, &s.Routes[2]); p != nil {
		t.Fatalf("waf off: %+v", p)
	}
}

func TestWAFErrorsAreLocated(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	_ = os.WriteFile(bad, []byte(`SecRule ARGS "@nosuchop x" "id:1,deny"`), 0o644)
	_, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    waf:
      mode: shout
      paranoia: 7
      rules: ['SecRule ARGS "@contains x" "phase:2,deny"']
      rules_files: [`+bad+`]
      body_limit_action: drop
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if err == nil {
		t.Fatal("bad waf settings accepted")
	}
	for _, want := range []string{"t.yaml:5:7: sites[0].waf.mode", "t.yaml:6:7: sites[0].waf.paranoia", "sites[0].waf.rules[0]: invalid rule: no id action",
		"sites[0].waf.rules_files[0]", "nosuchop", "sites[0].waf.body_limit_action"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    routes:
      - path: /
        waf: maybe
        respond: {body: x}
`), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:6:14: sites[0].routes[0].waf: want on, off, block, detect or a mapping") {
		t.Errorf("waf: maybe: %v", err)
	}
}
