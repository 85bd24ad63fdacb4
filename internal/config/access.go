package config

import (
	"net/netip"

	"github.com/gatehouse/gatehouse/internal/access"
)

// Access allows and denies clients by address on a site or a route (a
// route's replaces its site's). The most specific entry holding the
// client's address decides; an address no entry holds is allowed, so a
// list that admits only some ends with deny: [all].
type Access struct {
	// Allow and Deny are CIDRs, single addresses, or all.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// DenyFile holds more deny entries, one per line (# comments); it is
	// read again when it changes.
	DenyFile string `yaml:"deny_file"`

	// Parsed by validation.
	AllowPrefixes []netip.Prefix `yaml:"-"`
	DenyPrefixes  []netip.Prefix `yaml:"-"`
}

// EffectiveAccess is a route's access list: its own, else its site's,
// and whether it is its own.
func EffectiveAccess(s *Site, r *Route) (*Access, bool) {
	if r.Access != nil {
		return r.Access, true
	}
	return s.Access, false
}

// validateAccess parses the entries and checks the deny file.
func validateAccess(dir string, a *Access, at keyPath, report func(keyPath, string)) {
	if a == nil {
		return
	}
	parse := func(list []string, key string) []netip.Prefix {
		var out []netip.Prefix
		for i, e := range list {
			ps, err := access.ParseEntry(e)
			if err != nil {
				report(at.key(key).idx(i), err.Error())
				continue
			}
			out = append(out, ps...)
		}
		return out
	}
	a.AllowPrefixes = parse(a.Allow, "allow")
	a.DenyPrefixes = parse(a.Deny, "deny")
	if a.DenyFile != "" {
		a.DenyFile = resolvePath(dir, a.DenyFile)
		if _, err := access.ReadFile(a.DenyFile); err != nil {
			report(at.key("deny_file"), err.Error())
		}
	}
}
