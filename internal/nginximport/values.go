package nginximport

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// duration converts an nginx time ("30s", "1m", "1h30m", "500ms", "60")
// to a Gatehouse duration, or reports false.
func duration(v string) (string, bool) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour},
		{"w", 7 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	var total time.Duration
	rest := v
	if rest == "" {
		return "", false
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 12 {
			return "", false
		}
		n, _ := strconv.Atoi(rest[:i])
		rest = rest[i:]
		unit := time.Second
		if rest != "" {
			matched := false
			for _, u := range units {
				if strings.HasPrefix(rest, u.suffix) && (u.suffix != "m" || !strings.HasPrefix(rest, "ms")) {
					unit, rest, matched = u.d, rest[len(u.suffix):], true
					break
				}
			}
			if !matched {
				return "", false
			}
		}
		total += time.Duration(n) * unit
	}
	return formatDuration(total), true
}

// formatDuration writes d in the largest unit that holds it exactly.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", int64(d/time.Millisecond))
}

// size converts an nginx size ("1m", "512k", "10M", "100") to a
// Gatehouse size, or reports false.
func size(v string) (string, bool) {
	num := strings.TrimRight(v, "kKmMgG")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || len(v)-len(num) > 1 {
		return "", false
	}
	switch strings.ToLower(v[len(num):]) {
	case "":
		return strconv.FormatInt(n, 10), true
	case "k":
		return fmt.Sprintf("%dKB", n), true
	case "m":
		return fmt.Sprintf("%dMB", n), true
	default:
		return fmt.Sprintf("%dGB", n), true
	}
}

// variable matches an nginx variable reference: $name or ${name}.
var variable = regexp.MustCompile(`\$(\{[A-Za-z0-9_]+\}|[A-Za-z0-9_]+)`)

// placeholders maps nginx variables to Gatehouse placeholders.
var placeholders = map[string]string{
	"host":               "{host}",
	"http_host":          "{host}",
	"remote_addr":        "{client_ip}",
	"binary_remote_addr": "{client_ip}",
	"server_name":        "{host}",
	"scheme":             "{scheme}",
	"request_uri":        "{uri}",
	"uri":                "{path}",
	"request_id":         "{request_id}",
	"request_method":     "{method}",
}

// value rewrites the nginx variables of v as Gatehouse placeholders
// (with braces in the literal text doubled); it reports the first
// variable it cannot express.
func value(v string) (string, string) { return convert(v, -1) }

// target is value for a redirect target on a route whose regex has
// groups groups: $1... up to them stay as they are, and those beyond are
// empty, as nginx finds them.
func target(v string, groups int) (string, string) { return convert(v, groups) }

// groupCount is how many groups the regex of a route path ("~ re") has.
func groupCount(path string) int {
	expr, ok := strings.CutPrefix(path, "~*")
	if !ok {
		if expr, ok = strings.CutPrefix(path, "~"); !ok {
			return 0
		}
	}
	re, err := regexp.Compile(strings.TrimSpace(expr))
	if err != nil {
		return 0
	}
	return re.NumSubexp()
}

func convert(v string, groups int) (string, string) {
	var b strings.Builder
	bad := ""
	last := 0
	literal := func(s string) string {
		s = braces(s)
		if groups >= 0 {
			// In a template, a $ that is not a group is written $$.
			s = strings.ReplaceAll(s, "$", "$$")
		}
		return s
	}
	for _, loc := range variable.FindAllStringIndex(v, -1) {
		b.WriteString(literal(v[last:loc[0]]))
		last = loc[1]
		name := strings.Trim(v[loc[0]+1:loc[1]], "{}")
		n, numErr := strconv.Atoi(name)
		switch {
		case groups >= 0 && numErr == nil && n <= groups:
			b.WriteString("${" + name + "}")
		case groups >= 0 && numErr == nil:
			// A group the regex does not have: empty.
		case placeholders[name] != "":
			b.WriteString(placeholders[name])
		case strings.HasPrefix(name, "http_"):
			b.WriteString("{header." + strings.ReplaceAll(name[len("http_"):], "_", "-") + "}")
		case strings.HasPrefix(name, "cookie_"):
			b.WriteString("{cookie." + name[len("cookie_"):] + "}")
		case strings.HasPrefix(name, "arg_"):
			b.WriteString("{query." + name[len("arg_"):] + "}")
		default:
			if bad == "" {
				bad = "$" + name
			}
		}
	}
	b.WriteString(literal(v[last:]))
	return b.String(), bad
}

func braces(s string) string {
	return strings.NewReplacer("{", "{{", "}", "}}").Replace(s)
}
