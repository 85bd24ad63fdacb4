package config

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// CacheStorage is where the HTTP cache keeps responses (top level). It
// applies at start: a reload that changes it is told to restart.
type CacheStorage struct {
	// Memory bounds the memory tier in bytes of bodies and headers
	// (default 64MB).
	Memory Size `yaml:"memory"`
	// Disk, when set, keeps responses in files too, surviving restarts.
	Disk *CacheDisk `yaml:"disk"`
	// MaxObject is the largest response stored (default 1GB).
	MaxObject Size `yaml:"max_object"`
	// Shared, when set, adds a tier in the fleet's store behind the
	// local ones: a response one instance fetched is a hit on the others.
	Shared *CacheShared `yaml:"shared"`
}

// CacheShared is the HTTP cache's tier in the fleet's store.
type CacheShared struct {
	// MaxObject is the largest response kept in the store (default 1MB;
	// larger ones stay local).
	MaxObject Size `yaml:"max_object"`
	// LockTimeout bounds how long an instance waits for another's origin
	// request of the same key before making its own (default 5s).
	LockTimeout Duration `yaml:"lock_timeout"`

	off bool // written shared: false
}

// UnmarshalYAML accepts true, false or a mapping.
func (c *CacheShared) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		switch strings.ToLower(scalarString(node)) {
		case "true", "on":
			return nil
		case "false", "off":
			c.off = true
			return nil
		}
		return &nodeError{node, fmt.Sprintf("want true, false or {max_object, lock_timeout}, got %q", scalarString(node))}
	}
	type plain CacheShared
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*c = CacheShared(p)
	return nil
}

// CacheDisk is the disk tier of the HTTP cache.
type CacheDisk struct {
	// Path is the directory entries are kept in.
	Path string `yaml:"path"`
	// MaxSize bounds the files together; the least recently used go
	// first (default 1GB).
	MaxSize Size `yaml:"max_size"`
}

// Cache turns shared caching on for a site or a route (a route's settings
// replace its site's).
type Cache struct {
	// Off turns caching off for a route of a site that has it on.
	Off bool `yaml:"off"`
	// TTL gives a freshness lifetime by status, used only when a response
	// has no freshness information of its own (like nginx's
	// proxy_cache_valid).
	TTL map[int]Duration `yaml:"ttl"`
	// StaleIfError and StaleWhileRevalidate apply when the origin does
	// not say (default 0: never).
	StaleIfError         Duration `yaml:"stale_if_error"`
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate"`
	// Key is the template of the cache key (default
	// "{method}{scheme}{host}{uri}").
	Key string `yaml:"key"`
	// Lock collapses concurrent misses of one key into one origin
	// request (default true).
	Lock *bool `yaml:"lock"`
	// Bypass lists "cookie NAME" and "header NAME": requests carrying
	// one go to the origin and their responses are not stored.
	Bypass []string `yaml:"bypass"`
	// StatusHeader adds the Cache-Status field (RFC 9211) to responses
	// (default true).
	StatusHeader *bool `yaml:"status_header"`

	// Parsed by validation: the key template and the bypass rules.
	KeyTemplate placeholder.Value `yaml:"-"`
	BypassRules []CacheBypass     `yaml:"-"`
}

// UnmarshalYAML accepts a mapping, or the scalars off (caching off, as
// {off: true}) and on (as {}).
func (c *Cache) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		switch strings.ToLower(scalarString(node)) {
		case "off", "false":
			*c = Cache{Off: true}
		case "on", "true":
			*c = Cache{}
		default:
			return &nodeError{node, fmt.Sprintf("want {} (with options), on or off, got %q", scalarString(node))}
		}
		return nil
	}
	type plain Cache
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*c = Cache(p)
	return nil
}

// CacheBypass is one bypass rule: a request cookie or header field whose
// presence sends the request past the cache.
type CacheBypass struct {
	Cookie bool
	Name   string
}

// DefaultCacheKey is the cache key of a rule that names none.
const DefaultCacheKey = "{method}{scheme}{host}{uri}"

// Cache storage defaults.
const (
	DefaultCacheMemory    = 64 << 20
	DefaultCacheMaxObject = 1 << 30
	DefaultCacheDiskSize  = 1 << 30
)

// cacheDefaults fills in the storage defaults.
func cacheDefaults(dir string, c *CacheStorage) {
	setDefault(&c.Memory, DefaultCacheMemory)
	setDefault(&c.MaxObject, DefaultCacheMaxObject)
	if d := c.Disk; d != nil {
		setDefault(&d.MaxSize, DefaultCacheDiskSize)
		d.Path = resolvePath(dir, d.Path)
	}
}

// EffectiveCache is the cache rule of a route: its own, else its site's;
// nil when caching is off.
func EffectiveCache(s *Site, r *Route) *Cache {
	c := s.Cache
	if r.Cache != nil {
		c = r.Cache
	}
	if c == nil || c.Off {
		return nil
	}
	return c
}

// validateCacheStorage checks the storage settings.
func validateCacheStorage(c *CacheStorage, report func(keyPath, string)) {
	at := keyPath{"cache"}
	if s := c.Shared; s != nil {
		if s.off {
			c.Shared = nil
		} else {
			setDefault(&s.MaxObject, Size(1<<20))
			setDefault(&s.LockTimeout, Duration(5*time.Second))
			if s.MaxObject < 1 {
				report(at.key("shared").key("max_object"), "want a size, at least 1 byte")
			}
		}
	}
	if d := c.Disk; d != nil {
		if d.Path == "" {
			report(at.key("disk").key("path"), "missing path: the directory of the disk tier")
		} else if fi, err := os.Stat(d.Path); err == nil && !fi.IsDir() {
			report(at.key("disk").key("path"), fmt.Sprintf("%s is not a directory", d.Path))
		}
	}
}

// validateCache checks a site's or route's cache rule and parses its key
// and bypass rules.
func validateCache(c *Cache, at keyPath, report func(keyPath, string)) {
	if c == nil {
		return
	}
	if c.Key == "" {
		c.Key = DefaultCacheKey
	}
	if c.Lock == nil {
		c.Lock = ptr(true)
	}
	if c.StatusHeader == nil {
		c.StatusHeader = ptr(true)
	}
	kt, err := placeholder.Parse(c.Key)
	if err != nil {
		report(at.key("key"), err.Error())
	}
	c.KeyTemplate = kt
	codes := make([]int, 0, len(c.TTL))
	for code := range c.TTL {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		if code < 100 || code > 599 {
			report(at.key("ttl").key(strconv.Itoa(code)), fmt.Sprintf("%d is not an HTTP status", code))
		}
	}
	c.BypassRules = nil
	for i, b := range c.Bypass {
		kind, name, ok := strings.Cut(strings.TrimSpace(b), " ")
		name = strings.TrimSpace(name)
		switch {
		case !ok || name == "" || (kind != "cookie" && kind != "header"):
			report(at.key("bypass").idx(i), fmt.Sprintf("want \"cookie NAME\" or \"header NAME\", got %q", b))
		case kind == "cookie":
			c.BypassRules = append(c.BypassRules, CacheBypass{Cookie: true, Name: name})
		default:
			c.BypassRules = append(c.BypassRules, CacheBypass{Name: http.CanonicalHeaderKey(name)})
		}
	}
}

// UsesCache reports whether a site or route of the config turns caching
// on.
func (c *Config) UsesCache() bool {
	for i := range c.Sites {
		s := &c.Sites[i]
		for j := range s.Routes {
			if EffectiveCache(s, &s.Routes[j]) != nil {
				return true
			}
		}
	}
	return false
}
