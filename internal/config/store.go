package config

import (
	"fmt"
	"net"
	"regexp"
	"time"
)

// Store is the shared store of a fleet: several Gatehouse instances that
// keep their shared state (rate limits, bans, cached objects, ACME
// certificates, virtual patches) in one Redis or Valkey deployment.
type Store struct {
	// Redis is where the state is kept.
	Redis *Redis `yaml:"redis"`
	// OnFailure is what happens while the store cannot be reached: open
	// (default: limits count locally, the cache misses, bans and patches
	// keep their last known state) or closed (requests whose feature
	// needs the store are refused with 503).
	OnFailure string `yaml:"on_failure"`
	// FleetSize is how many instances share the load, a hint: while the
	// store is down a shared rate limit counts locally at 1/FleetSize of
	// its rate (default 1: the whole rate on each instance).
	FleetSize int `yaml:"fleet_size"`
	// Prefix starts every key and channel name (default gatehouse), so
	// that several fleets can share one Redis.
	Prefix string `yaml:"prefix"`
	// Name names this instance among the fleet's members (default the
	// host name and the process ID).
	Name string `yaml:"name"`
}

// Redis is how to reach Redis or Valkey: one server, a Sentinel set or
// a Cluster.
type Redis struct {
	// Addrs are host:port: the server (standalone, exactly one), the
	// sentinels (sentinel_master set) or some of the cluster's nodes.
	Addrs []string `yaml:"addrs"`
	// Cluster: Addrs are nodes of a Redis Cluster.
	Cluster bool `yaml:"cluster"`
	// SentinelMaster, when set, is the name of the master the sentinels
	// at Addrs watch.
	SentinelMaster string `yaml:"sentinel_master"`
	// Username and Password authenticate (ACL, or requirepass with no
	// username).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// SentinelPassword authenticates to the sentinels themselves.
	SentinelPassword string `yaml:"sentinel_password"`
	// DB is the database number (standalone and Sentinel only).
	DB int `yaml:"db"`
	// TLS, when set, connects over TLS: CA verifies the server (default
	// the system's roots), Cert and Key are a client certificate.
	TLS *StoreTLS `yaml:"tls"`
	// Timeout bounds each store call (default 250ms): past it the call
	// counts as a failure and the request goes on as on_failure says.
	Timeout Duration `yaml:"timeout"`
}

// StoreTLS is the TLS of the connections to the store.
type StoreTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name checked in the server's certificate
	// (default the host of the address).
	ServerName string `yaml:"server_name"`
}

// Store failure modes.
const (
	StoreFailOpen   = "open"
	StoreFailClosed = "closed"
)

// DefaultStoreTimeout bounds one store call unless told otherwise.
const DefaultStoreTimeout = 250 * time.Millisecond

// storePrefix is what a key prefix may be made of.
var storePrefix = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// UsesStore reports whether any feature of c is shared through the
// store.
func (c *Config) UsesStore() bool { return c.Store != nil }

// validateStore checks the store and that every feature marked shared
// has one.
func validateStore(c *Config, report func(keyPath, string)) {
	at := keyPath{"store"}
	s := c.Store
	if s == nil {
		for _, p := range c.sharedFeatures() {
			report(p, "shared needs a store: add store: {redis: {addrs: [HOST:PORT]}} at the top level")
		}
		return
	}
	setDefault(&s.OnFailure, StoreFailOpen)
	oneOf(report, at.key("on_failure"), s.OnFailure, StoreFailOpen, StoreFailClosed)
	setDefault(&s.Prefix, "gatehouse")
	if !storePrefix.MatchString(s.Prefix) {
		report(at.key("prefix"), fmt.Sprintf("want 1-64 letters, digits, '.', '_', ':' or '-', got %q", s.Prefix))
	}
	if s.FleetSize == 0 {
		s.FleetSize = 1
	}
	if s.FleetSize < 1 {
		report(at.key("fleet_size"), "want how many instances share the load, at least 1")
	}
	r := s.Redis
	if r == nil {
		report(at, "want redis: {addrs: [HOST:PORT]}")
		return
	}
	rat := at.key("redis")
	if len(r.Addrs) == 0 {
		report(rat.key("addrs"), "want at least one HOST:PORT")
	}
	for i, a := range r.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			report(rat.key("addrs").idx(i), fmt.Sprintf("want HOST:PORT, got %q", a))
		}
	}
	switch {
	case r.Cluster && r.SentinelMaster != "":
		report(rat.key("sentinel_master"), "a cluster has no sentinel master: set cluster or sentinel_master, not both")
	case r.Cluster && r.DB != 0:
		report(rat.key("db"), "a Redis Cluster has database 0 only")
	case !r.Cluster && r.SentinelMaster == "" && len(r.Addrs) > 1:
		report(rat.key("addrs"), "one server takes one address: for a Redis Cluster set cluster: true, for Sentinel set sentinel_master")
	}
	if r.DB < 0 {
		report(rat.key("db"), "want a database number, 0 or more")
	}
	setDefault(&r.Timeout, Duration(DefaultStoreTimeout))
	if r.Timeout.Std() < time.Millisecond {
		report(rat.key("timeout"), "want at least 1ms")
	}
	if t := r.TLS; t != nil {
		t.CA, t.Cert, t.Key = resolvePath(c.Dir, t.CA), resolvePath(c.Dir, t.Cert), resolvePath(c.Dir, t.Key)
		if (t.Cert == "") != (t.Key == "") {
			report(rat.key("tls"), "a client certificate needs both cert and key")
		}
	}
}

// sharedFeatures are where the config marks a feature shared.
func (c *Config) sharedFeatures() []keyPath {
	var out []keyPath
	if c.Admin.Shared {
		out = append(out, keyPath{"admin", "shared"})
	}
	if c.Bans != nil && c.Bans.Shared {
		out = append(out, keyPath{"bans", "shared"})
	}
	if c.Cache.Shared != nil {
		out = append(out, keyPath{"cache", "shared"})
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		at := keyPath{"sites", i}
		out = append(out, sharedLimits(s.RateLimit, at.key("rate_limit"))...)
		if s.TLS != nil && s.TLS.ACME != nil && s.TLS.ACME.Shared {
			out = append(out, at.key("tls").key("acme").key("shared"))
		}
		for j := range s.Routes {
			out = append(out, sharedLimits(s.Routes[j].RateLimit, at.key("routes").idx(j).key("rate_limit"))...)
		}
	}
	return out
}

// sharedLimits are the shared limits of one list.
func sharedLimits(rl *RateLimits, at keyPath) []keyPath {
	if rl == nil {
		return nil
	}
	var out []keyPath
	for i, r := range *rl {
		if r.Shared {
			if len(*rl) == 1 {
				out = append(out, at.key("shared"))
			} else {
				out = append(out, at.idx(i).key("shared"))
			}
		}
	}
	return out
}
