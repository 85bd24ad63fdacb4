// Package route compiles the host and path matchers of a config once, so that
// a request finds its site and route without scanning lists of strings.
//
// Path precedence: an exact match ("= /path") wins, then regexes ("~ re",
// "~* re" for case-insensitive) in file order, then the longest prefix.
package route

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is how a route pattern matches a path.
type Kind int

// The pattern kinds.
const (
	Prefix Kind = iota
	Exact
	Regex
)

// Pattern is a parsed route path.
type Pattern struct {
	Kind Kind
	// Path is the exact path or prefix (empty for regexes).
	Path string
	// Regexp is the compiled regex of a Regex pattern.
	Regexp *regexp.Regexp
}

// ParsePattern parses "= /exact", "~ regex", "~* regex" or "/prefix".
func ParsePattern(s string) (Pattern, error) {
	switch {
	case strings.HasPrefix(s, "~*"):
		return compileRegex(strings.TrimSpace(s[2:]), "(?i)")
	case strings.HasPrefix(s, "~"):
		return compileRegex(strings.TrimSpace(s[1:]), "")
	case strings.HasPrefix(s, "="):
		p := strings.TrimSpace(s[1:])
		if !strings.HasPrefix(p, "/") {
			return Pattern{}, fmt.Errorf("exact path %q must start with /", p)
		}
		return Pattern{Kind: Exact, Path: p}, nil
	default:
		if !strings.HasPrefix(s, "/") {
			return Pattern{}, fmt.Errorf("path %q must start with / (or be \"= /exact\" or \"~ regex\")", s)
		}
		return Pattern{Kind: Prefix, Path: s}, nil
	}
}

func compileRegex(expr, flags string) (Pattern, error) {
	if expr == "" {
		return Pattern{}, fmt.Errorf("empty regex")
	}
	re, err := regexp.Compile(flags + expr)
	if err != nil {
		return Pattern{}, fmt.Errorf("invalid regex: %w", err)
	}
	return Pattern{Kind: Regex, Regexp: re}, nil
}
