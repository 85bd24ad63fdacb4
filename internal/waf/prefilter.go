package waf

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A prefilter is a cheap necessary condition for a pattern to match: a
// set of literals one of which every match contains. Most values the CRS
// sees match none of its patterns, and a value that holds none of a
// pattern's literals is answered without running a regex engine at all
// (strings.Contains, vectorized, over a value RE2 would first have to copy
// into its own memory).
//
// It can only say "cannot match" or "maybe": a literal it fails to find
// is one the pattern needs. Where that is not certain it keeps no filter:
// case-folded literals are ASCII only, and a value with non-ASCII bytes
// skips them (Unicode folding matches K to the Kelvin sign); a literal
// holding U+FFFD gets none (invalid bytes read as U+FFFD).
type prefilter struct {
	lits []literal
	fold bool // some literal is case-folded
}

type literal struct {
	s    string // lowercased when fold
	fold bool
}

// maxLiterals bounds the alternatives a prefilter checks; a pattern with
// more gets none.
const maxLiterals = 16

// newPrefilter analyzes pattern (Go syntax, with its flags) and returns
// its prefilter, or nil when it has none worth checking.
func newPrefilter(pattern string) *prefilter {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits := required(re)
	if len(lits) == 0 {
		return nil
	}
	p := &prefilter{lits: lits}
	for _, l := range lits {
		if l.s == "" || strings.ContainsRune(l.s, utf8.RuneError) {
			return nil
		}
		p.fold = p.fold || l.fold
	}
	return p
}

// required returns literals one of which every match of re contains, or
// nil when it finds none.
func required(re *syntax.Regexp) []literal {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if re.Flags&syntax.FoldCase == 0 {
			return []literal{{s: s}}
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return nil
			}
		}
		return []literal{{s: strings.ToLower(s), fold: true}}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []literal
		for _, sub := range re.Sub {
			if c := required(sub); c != nil && (best == nil || strength(c) > strength(best)) {
				best = c
			}
		}
		return best
	case syntax.OpAlternate:
		var all []literal
		for _, sub := range re.Sub {
			c := required(sub)
			if c == nil {
				return nil
			}
			all = append(all, c...)
		}
		if len(all) > maxLiterals {
			return nil
		}
		return all
	}
	return nil
}

// strength ranks a set of literals as a filter: the shortest one decides
// how often the set lets a value through; fewer is cheaper.
func strength(lits []literal) int {
	shortest := len(lits[0].s)
	for _, l := range lits[1:] {
		shortest = min(shortest, len(l.s))
	}
	return shortest*(maxLiterals+1) - len(lits)
}

// mayMatch reports false when value holds none of the literals, so the
// pattern cannot match it.
func (p *prefilter) mayMatch(value string) bool {
	lower := value
	if p.fold {
		upper := false
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c >= utf8.RuneSelf {
				return true
			}
			upper = upper || 'A' <= c && c <= 'Z'
		}
		if upper {
			lower = strings.ToLower(value)
		}
	}
	for _, l := range p.lits {
		if l.fold {
			if strings.Contains(lower, l.s) {
				return true
			}
		} else if strings.Contains(value, l.s) {
			return true
		}
	}
	return false
}
