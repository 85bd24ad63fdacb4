package config

import (
	"strings"
	"testing"
	"time"
)

func TestStoreDefaultsAndSharedFeatures(t *testing.T) {
	cfg, err := Parse([]byte(`
store:
  redis: {addrs: ["127.0.0.1:6379"]}
admin: {listen: "127.0.0.1:2019", shared: true}
bans: {threshold: 5, shared: true}
cache: {shared: true}
sites:
  - listen: ["http://127.0.0.1:1"]
    rate_limit: {rate: 10r/s, shared: true}
    routes:
      - path: /
        respond: {body: x}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Store
	if s.OnFailure != StoreFailOpen || s.FleetSize != 1 || s.Prefix != "gatehouse" || s.Redis.Timeout.Std() != DefaultStoreTimeout {
		t.Fatalf("defaults: %+v %+v", s, s.Redis)
	}
	if sh := cfg.Cache.Shared; sh == nil || sh.MaxObject != 1<<20 || sh.LockTimeout.Std() != 5*time.Second {
		t.Fatalf("cache.shared: %+v", sh)
	}
	if !(*cfg.Sites[0].RateLimit)[0].Shared || !cfg.Bans.Shared || !cfg.Admin.Shared {
		t.Fatal("shared flags not read")
	}
	cfg, err = Parse([]byte("cache: {shared: false}\nsites:\n  - listen: [\"http://127.0.0.1:1\"]\n    routes: [{path: /, respond: {body: x}}]\n"), "t.yaml")
	if err != nil || cfg.Cache.Shared != nil {
		t.Fatalf("shared: false: %v %+v", err, cfg.Cache.Shared)
	}
}

func TestStoreErrorsAreLocated(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"store: {redis: {addrs: [\"a:1\", \"b:2\"]}}\n", "t.yaml:1:17: store.redis.addrs: one server takes one address"},
		{"store: {redis: {addrs: [\"nohost\"]}}\n", "store.redis.addrs[0]: want HOST:PORT"},
		{"store: {redis: {addrs: [\"a:1\"], cluster: true, db: 2}}\n", "store.redis.db: a Redis Cluster has database 0 only"},
		{"store: {redis: {addrs: [\"a:1\"]}, on_failure: maybe}\n", "store.on_failure"},
		{"store: {on_failure: open}\n", "store: want redis: {addrs: [HOST:PORT]}"},
		{"bans: {threshold: 3, shared: true}\n", "t.yaml:1:22: bans.shared: shared needs a store"},
		{"cache: {shared: {max_object: 0}}\n", "shared needs a store"},
		{"admin: {listen: \"127.0.0.1:2019\", shared: true}\n", "admin.shared: shared needs a store"},
	} {
		_, err := Parse([]byte(tc.yaml+"sites:\n  - listen: [\"http://127.0.0.1:1\"]\n    routes: [{path: /, respond: {body: x}}]\n"), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
	_, err := Parse([]byte(`sites:
  - listen: ["http://127.0.0.1:1"]
    routes:
      - path: /
        rate_limit: [{rate: 1r/s}, {rate: 2r/s, shared: true}]
        respond: {body: x}
`), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "sites[0].routes[0].rate_limit[1].shared: shared needs a store") {
		t.Errorf("a shared limit of a list: %v", err)
	}
}
