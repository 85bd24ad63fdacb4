package route

import (
	"fmt"
	"net"
	"strings"
)

// Hosts maps request Host values to values: exact names first, then the
// longest matching "*." wildcard, then the default.
type Hosts[T any] struct {
	exact      map[string]T
	wildcard   map[string]T // keyed by ".example.com"
	def        T
	hasDefault bool
}

// NewHosts returns an empty host table.
func NewHosts[T any]() *Hosts[T] {
	return &Hosts[T]{exact: map[string]T{}, wildcard: map[string]T{}}
}

// Add registers v for name ("example.com" or "*.example.com").
func (h *Hosts[T]) Add(name string, v T) error {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if _, dup := h.wildcard["."+rest]; dup {
			return fmt.Errorf("host %q is claimed twice on this listener", name)
		}
		h.wildcard["."+rest] = v
		return nil
	}
	if _, dup := h.exact[name]; dup {
		return fmt.Errorf("host %q is claimed twice on this listener", name)
	}
	h.exact[name] = v
	return nil
}

// SetDefault registers the value used when no name matches.
func (h *Hosts[T]) SetDefault(v T) error {
	if h.hasDefault {
		return fmt.Errorf("two sites without hosts share this listener: only one can be its default")
	}
	h.def, h.hasDefault = v, true
	return nil
}

// Match finds the value for a Host header value (a port is ignored).
func (h *Hosts[T]) Match(host string) (v T, ok bool) {
	name := NormalizeHost(host)
	if v, ok := h.exact[name]; ok {
		return v, true
	}
	if len(h.wildcard) > 0 {
		for i := 0; i < len(name); i++ {
			if name[i] == '.' {
				if v, ok := h.wildcard[name[i:]]; ok {
					return v, true
				}
			}
		}
	}
	return h.def, h.hasDefault
}

// Each calls f with every value registered (a value registered for
// several names, once per name).
func (h *Hosts[T]) Each(f func(T)) {
	for _, v := range h.exact {
		f(v)
	}
	for _, v := range h.wildcard {
		f(v)
	}
	if h.hasDefault {
		f(h.def)
	}
}

// NormalizeHost lower-cases a Host value and strips its port and any
// trailing dot.
func NormalizeHost(host string) string {
	if strings.IndexByte(host, ':') >= 0 { // most hosts carry no port
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}
