package nginximport

import (
	"strconv"
	"strings"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// cachePath maps proxy_cache_path to the cache's disk tier (Gatehouse
// has one store; a second path gets a warning).
func (m *mapper) cachePath(d *crossplane.Directive, out *node) {
	inactive := "10m"
	zone, maxSize := "", ""
	for _, a := range d.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "keys_zone":
			zone, _, _ = strings.Cut(v, ":")
		case "max_size":
			maxSize = v
		case "inactive":
			inactive = v
		}
	}
	m.cacheZones[zone] = inactive
	cache := out.child("cache")
	if cache.get("disk") != nil {
		m.warn(d, "Gatehouse has one cache store: this zone shares the first path's")
		return
	}
	disk := cache.child("disk")
	disk.set("path", str(m.path(d.Args[0])))
	if v, ok := size(maxSize); ok {
		disk.set("max_size", str(v))
	}
}

// cache maps a proxy location's proxy_cache settings to the route's cache.
func (m *mapper) cache(r *node, s *scope) {
	if s.cache == "" || s.cache == "off" {
		return
	}
	inactive, ok := m.cacheZones[s.cache]
	if !ok {
		m.warn(s.cacheAt, "no proxy_cache_path names the zone %q", s.cache)
		return
	}
	c := newMap()
	ttl := newMap()
	for _, d := range s.cacheValid {
		t, ok := duration(d.Args[len(d.Args)-1])
		if !ok {
			m.warn(d, "cannot read the time %q", d.Args[len(d.Args)-1])
			continue
		}
		codes := d.Args[:len(d.Args)-1]
		if len(codes) == 0 {
			codes = []string{"200", "301", "302"} // nginx's default
		}
		for _, code := range codes {
			if code == "any" {
				m.warn(d, "any: Gatehouse's ttl names statuses; 200, 301, 302 and 404 are given this time")
				for _, c := range []string{"200", "301", "302", "404"} {
					if ttl.get(c) == nil {
						ttl.set(c, str(t))
					}
				}
				continue
			}
			if _, err := strconv.Atoi(code); err == nil {
				ttl.set(code, str(t))
			}
		}
	}
	if !ttl.empty() {
		c.set("ttl", ttl)
	}
	if d := s.cacheKey; d != nil && d.Args[0] != "$scheme$proxy_host$request_uri" {
		if key, bad := value(d.Args[0]); bad == "" {
			c.set("key", str(key))
		} else {
			m.warn(d, "the key's variable %s has no placeholder: Gatehouse's default key is used", bad)
		}
	}
	if d := s.cacheStale; d != nil {
		for _, a := range d.Args {
			switch {
			case a == "error" || a == "timeout" || strings.HasPrefix(a, "http_5"):
				if v, ok := duration(inactive); ok {
					c.set("stale_if_error", str(v))
				}
			case a == "updating" && s.backgroundUpd:
				if v, ok := duration(inactive); ok {
					c.set("stale_while_revalidate", str(v))
				}
			}
		}
	}
	var bypass []string
	for _, d := range s.cacheBypass {
		for _, a := range d.Args {
			switch {
			case strings.HasPrefix(a, "$cookie_"):
				bypass = append(bypass, "cookie "+a[len("$cookie_"):])
			case strings.HasPrefix(a, "$http_"):
				bypass = append(bypass, "header "+strings.ReplaceAll(a[len("$http_"):], "_", "-"))
			default:
				m.warn(d, "%s is not carried over (Gatehouse bypasses on a cookie or a header)", a)
			}
		}
	}
	if len(bypass) > 0 {
		c.set("bypass", strs(dedupe(bypass)...))
	}
	r.set("cache", c)
}
