package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRateLimitForms(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    rate_limit: {rate: 10r/s, burst: 20}
    routes:
      - path: /
        respond: {body: x}
      - path: /api/
        rate_limit:
          - {key: "{header.X-Api-Key}", rate: 600r/m, name: apikey}
          - {rate: 2r/h, action: delay}
        respond: {body: x}
      - path: /free/
        rate_limit: off
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &cfg.Sites[0]
	rules, own := EffectiveRateLimits(s, &s.Routes[0])
	if own || len(rules) != 1 || rules[0].Interval != 100*time.Millisecond || rules[0].Burst != 20 || rules[0].Name != "default" || rules[0].Key != "{client_ip}" {
		t.Fatalf("site limit: %+v own %v", rules, own)
	}
	rules, own = EffectiveRateLimits(s, &s.Routes[1])
	if !own || len(rules) != 2 || rules[0].Name != "apikey" || rules[0].Interval != 100*time.Millisecond ||
		rules[1].Name != "r2" || rules[1].Interval != 30*time.Minute || !rules[1].Delay || rules[1].Count != 2 || rules[1].Window != time.Hour {
		t.Fatalf("route limits: %+v", rules)
	}
	if rules, own := EffectiveRateLimits(s, &s.Routes[2]); !own || len(rules) != 0 {
		t.Fatalf("off: %+v", rules)
	}
}

func TestRateLimitErrorsAreLocated(t *testing.T) {
	_, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    rate_limit: {rate: fast, burst: -1, action: drop, key: "{nosuch}", sped: 1}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`t.yaml:4:72: sites[0].rate_limit.sped: unknown key "sped"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    rate_limit: {rate: fast, burst: -1, action: drop, key: "{nosuch}"}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	for _, want := range []string{"sites[0].rate_limit.rate: want N r/s", "sites[0].rate_limit.burst: must not be negative",
		"sites[0].rate_limit.action: want reject or delay", "sites[0].rate_limit.key: ", "unknown placeholder {nosuch}"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestAccessErrorsAreLocated(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/deny.txt"
	_ = os.WriteFile(bad, []byte("10.0.0.0/8\nnot-an-ip\n"), 0o644)
	_, err := Parse([]byte(`
sites:
  - listen: ["http://127.0.0.1:1"]
    access: {allow: [10.0.0.0/33, all], deny: [1.2.3.4, "2001:db8::/32", nope], deny_file: `+bad+`}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	for _, want := range []string{`sites[0].access.allow[0]: "10.0.0.0/33" is not a CIDR`, `sites[0].access.deny[2]: "nope" is not an address or CIDR`,
		"sites[0].access.deny_file: " + bad + ":2: \"not-an-ip\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
