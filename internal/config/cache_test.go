package config

import (
	"strings"
	"testing"
	"time"
)

func TestCacheConfig(t *testing.T) {
	cfg, err := Parse([]byte(`
cache: {memory: 128MB, disk: {path: cachedir}}
sites:
  - listen: [":80"]
    cache: {ttl: {200: 10m, 404: 1m}, stale_if_error: 1h, bypass: [cookie sessionid, header authorization]}
    routes:
      - path: /off/
        cache: off
        proxy: {to: "http://127.0.0.1:8000"}
      - path: /own/
        cache: {key: "{host}{path}", lock: false}
        proxy: {to: "http://127.0.0.1:8000"}
      - path: /
        proxy: {to: "http://127.0.0.1:8000"}
`), "/etc/gatehouse/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache.Memory != 128<<20 || cfg.Cache.MaxObject != DefaultCacheMaxObject ||
		cfg.Cache.Disk.Path != "/etc/gatehouse/cachedir" || cfg.Cache.Disk.MaxSize != DefaultCacheDiskSize {
		t.Errorf("storage: %+v %+v", cfg.Cache, cfg.Cache.Disk)
	}
	s := &cfg.Sites[0]
	if EffectiveCache(s, &s.Routes[0]) != nil {
		t.Error("cache: off left caching on")
	}
	own := EffectiveCache(s, &s.Routes[1])
	if own == nil || *own.Lock || own.Key != "{host}{path}" || own.TTL != nil {
		t.Errorf("the route's own rule: %+v", own)
	}
	site := EffectiveCache(s, &s.Routes[2])
	if site == nil || !*site.Lock || !*site.StatusHeader || site.Key != DefaultCacheKey ||
		site.TTL[200].Std() != 10*time.Minute || site.StaleIfError.Std() != time.Hour {
		t.Fatalf("the site's rule: %+v", site)
	}
	if len(site.BypassRules) != 2 || !site.BypassRules[0].Cookie || site.BypassRules[0].Name != "sessionid" ||
		site.BypassRules[1].Cookie || site.BypassRules[1].Name != "Authorization" {
		t.Errorf("bypass: %+v", site.BypassRules)
	}
	if !cfg.UsesCache() {
		t.Error("UsesCache")
	}
}

func TestCacheConfigProblems(t *testing.T) {
	site := "sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        proxy: {to: \"http://x:1\"}\n        cache: "
	cases := []struct{ doc, want string }{
		{site + "maybe\n", `f.yaml:6:16: sites[0].routes[0].cache: want {} (with options), on or off, got "maybe"`},
		{site + "{ttl: {700: 1m}}\n", "sites[0].routes[0].cache.ttl.700: 700 is not an HTTP status"},
		{site + "{bypass: [sid]}\n", `sites[0].routes[0].cache.bypass[0]: want "cookie NAME" or "header NAME"`},
		{site + "{key: \"{nope\"}\n", "sites[0].routes[0].cache.key:"},
		{site + "{tll: 1m}\n", `unknown key "tll" (did you mean "ttl"?)`},
		{"cache: {disk: {max_size: 1GB}}\n" + site + "{}\n", "cache.disk.path: missing path"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}
