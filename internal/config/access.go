package config

import (
	"net/netip"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/gatehouse/gatehouse/internal/access"
)

// Access allows and denies clients by address on a site or a route (a
// route's replaces its site's). The first entry holding the client's
// address decides, in the order written: allow's entries, then deny's and
// the deny file's (deny's first when deny is written before allow). An
// address no entry holds is allowed, so a list that admits only some ends
// with deny: [all].
type Access struct {
	// Allow and Deny are CIDRs, single addresses, or all.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// DenyFile holds more deny entries, one per line (# comments); it is
	// read again when it changes.
	DenyFile string `yaml:"deny_file"`

	// DenyFirst is set when deny is written before allow: its entries
	// are matched first.
	DenyFirst bool `yaml:"-"`

	// Parsed by validation.
	AllowPrefixes []netip.Prefix `yaml:"-"`
	DenyPrefixes  []netip.Prefix `yaml:"-"`
}

// UnmarshalYAML decodes the mapping and notes which of allow and deny
// comes first.
func (a *Access) UnmarshalYAML(node ast.Node) error {
	type plain Access
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*a = Access(p)
	if m, ok := unwrap(node).(*ast.MappingNode); ok {
		for _, kv := range m.Values {
			switch scalarString(kv.Key) {
			case "allow":
				return nil
			case "deny", "deny_file":
				a.DenyFirst = true
				return nil
			}
		}
	}
	return nil
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
