package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/waf/seclang"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// WAF turns the web application firewall (Coraza with the OWASP Core
// Rule Set) on for a site or a route.
type WAF struct {
	// Mode is block (default), detect (log what would be blocked and let
	// it through) or off.
	Mode string `yaml:"mode"`
	// Paranoia is the CRS paranoia level, 1 (default) to 4: higher levels
	// add rules that catch more and misfire more.
	Paranoia int `yaml:"paranoia"`
	// AnomalyThreshold is the score at which a request (inbound, default
	// 5) or a response (outbound, default 4) is blocked.
	AnomalyThreshold WAFThreshold `yaml:"anomaly_threshold"`
	// Exclude lists rule ids that are removed (for false positives).
	Exclude []int `yaml:"exclude"`
	// Rules are SecLang directives of one's own, loaded before the CRS
	// rules; RulesFiles are files of them.
	Rules      []string `yaml:"rules"`
	RulesFiles []string `yaml:"rules_files"`
	// BodyLimit is how many bytes of a request body are inspected
	// (default 12.5MB, CRS's SecRequestBodyLimit); BodyLimitAction says
	// what a longer body gets: reject (413, default) or partial (the
	// first BodyLimit bytes are inspected, the rest passes).
	BodyLimit       Size   `yaml:"body_limit"`
	BodyLimitAction string `yaml:"body_limit_action"`
	// Responses inspects response headers and text bodies with the
	// outbound rules (default true).
	Responses *bool `yaml:"responses"`

	// Read by validation: the contents of RulesFiles.
	FileRules []WAFRuleText `yaml:"-"`
	// set records which scalar fields were written, so that a route's
	// settings override only those of its site's.
	set map[string]bool
}

// WAFThreshold is the anomaly score at which the WAF blocks.
type WAFThreshold struct {
	Inbound  int `yaml:"inbound"`
	Outbound int `yaml:"outbound"`
}

// WAFRuleText is rules read from a file, with the file's name.
type WAFRuleText struct {
	Name string
	Text string
}

// WAF defaults.
const (
	DefaultWAFParanoia  = 1
	DefaultWAFInbound   = 5
	DefaultWAFOutbound  = 4
	DefaultWAFBodyLimit = 13107200
)

// WAF modes.
const (
	WAFBlock  = "block"
	WAFDetect = "detect"
	WAFOff    = "off"
)

// UnmarshalYAML accepts a mapping, or the scalars on (block), off, block
// and detect.
func (w *WAF) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		switch v := strings.ToLower(scalarString(node)); v {
		case "on", "true":
			*w = WAF{Mode: WAFBlock}
		case "off", "false":
			*w = WAF{Mode: WAFOff}
		case WAFBlock, WAFDetect:
			*w = WAF{Mode: v}
		default:
			return &nodeError{node, fmt.Sprintf("want on, off, block, detect or a mapping, got %q", scalarString(node))}
		}
		w.set = map[string]bool{"mode": true}
		return nil
	}
	type plain WAF
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*w = WAF(p)
	w.set = map[string]bool{}
	if m, ok := node.(*ast.MappingNode); ok {
		for _, kv := range m.Values {
			w.set[scalarString(kv.Key)] = true
			if kv.Key.String() == "anomaly_threshold" {
				if t, ok := kv.Value.(*ast.MappingNode); ok {
					for _, tkv := range t.Values {
						w.set["anomaly_threshold."+scalarString(tkv.Key)] = true
					}
				}
			}
		}
	}
	return nil
}

// WAFPolicy is the WAF of one route, its site's and its own settings
// merged, with every default filled in.
type WAFPolicy struct {
	Block    bool
	Paranoia int
	Inbound  int
	Outbound int
	Exclude  []int
	// Rules are the inline rules and the files' rules, in order.
	Rules         []WAFRuleText
	BodyLimit     int64
	PartialBodies bool
	Responses     bool
}

// EffectiveWAF is the WAF policy of a route: its site's settings with the
// route's over them; nil when the WAF is off or not configured.
func EffectiveWAF(s *Site, r *Route) *WAFPolicy {
	if s.WAF == nil && r.WAF == nil {
		return nil
	}
	p := &WAFPolicy{Block: true, Paranoia: DefaultWAFParanoia, Inbound: DefaultWAFInbound,
		Outbound: DefaultWAFOutbound, BodyLimit: DefaultWAFBodyLimit, Responses: true}
	mode := WAFBlock
	for _, w := range []*WAF{s.WAF, r.WAF} {
		if w == nil {
			continue
		}
		if w.set["mode"] {
			mode = w.Mode
		}
		if w.set["paranoia"] {
			p.Paranoia = w.Paranoia
		}
		if w.set["anomaly_threshold.inbound"] {
			p.Inbound = w.AnomalyThreshold.Inbound
		}
		if w.set["anomaly_threshold.outbound"] {
			p.Outbound = w.AnomalyThreshold.Outbound
		}
		if w.set["body_limit"] {
			p.BodyLimit = int64(w.BodyLimit)
		}
		if w.set["body_limit_action"] {
			p.PartialBodies = w.BodyLimitAction == "partial"
		}
		if w.Responses != nil {
			p.Responses = *w.Responses
		}
		p.Exclude = append(p.Exclude, w.Exclude...)
		for i, text := range w.Rules {
			p.Rules = append(p.Rules, WAFRuleText{Name: fmt.Sprintf("rules[%d]", i), Text: text})
		}
		p.Rules = append(p.Rules, w.FileRules...)
	}
	if mode == WAFOff {
		return nil
	}
	p.Block = mode == WAFBlock
	slices.Sort(p.Exclude)
	p.Exclude = slices.Compact(p.Exclude)
	return p
}

// validateWAF checks a site's or route's WAF settings, reads its rule
// files and checks every rule's syntax.
func validateWAF(dir string, w *WAF, at keyPath, report func(keyPath, string)) {
	if w == nil {
		return
	}
	if w.set["mode"] {
		switch w.Mode {
		case WAFBlock, WAFDetect, WAFOff:
		default:
			report(at.key("mode"), fmt.Sprintf("want block, detect or off, got %q", w.Mode))
		}
	}
	if w.set["paranoia"] && (w.Paranoia < 1 || w.Paranoia > 4) {
		report(at.key("paranoia"), fmt.Sprintf("want 1 to 4, got %d", w.Paranoia))
	}
	if w.set["anomaly_threshold.inbound"] && w.AnomalyThreshold.Inbound < 1 {
		report(at.key("anomaly_threshold").key("inbound"), "must be at least 1")
	}
	if w.set["anomaly_threshold.outbound"] && w.AnomalyThreshold.Outbound < 1 {
		report(at.key("anomaly_threshold").key("outbound"), "must be at least 1")
	}
	if w.set["body_limit"] && w.BodyLimit < 1 {
		report(at.key("body_limit"), "must be at least 1 byte")
	}
	if w.set["body_limit_action"] && w.BodyLimitAction != "reject" && w.BodyLimitAction != "partial" {
		report(at.key("body_limit_action"), fmt.Sprintf("want reject or partial, got %q", w.BodyLimitAction))
	}
	for i, id := range w.Exclude {
		if id < 1 {
			report(at.key("exclude").idx(i), fmt.Sprintf("%d is not a rule id", id))
		}
	}
	for i, text := range w.Rules {
		if err := seclang.Check(text); err != nil {
			report(at.key("rules").idx(i), err.Error())
		}
	}
	w.FileRules = nil
	for i, f := range w.RulesFiles {
		path := resolvePath(dir, f)
		text, err := os.ReadFile(path)
		if err != nil {
			report(at.key("rules_files").idx(i), err.Error())
			continue
		}
		if err := seclang.Check(string(text)); err != nil {
			report(at.key("rules_files").idx(i), fmt.Sprintf("%s: %v", path, err))
			continue
		}
		w.FileRules = append(w.FileRules, WAFRuleText{Name: path, Text: string(text)})
	}
}
