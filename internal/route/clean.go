package route

import "strings"

// CleanPath returns the canonical form of a decoded request path, the form
// routes are matched against: it starts with "/", has no "." or ".."
// segments and no repeated slashes, and keeps a trailing slash. Matching the
// cleaned path means "/public/../admin" is routed as "/admin", the way the
// upstream will read it.
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if isClean(p) {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	var b strings.Builder
	b.Grow(len(p))
	for _, s := range out {
		b.WriteByte('/')
		b.WriteString(s)
	}
	last := segs[len(segs)-1]
	if last == "" || last == "." || last == ".." {
		b.WriteByte('/')
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// isClean reports whether p is already canonical, so the common case costs
// no allocation.
func isClean(p string) bool {
	if p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] != '/' && p[i] != '.' {
			continue
		}
		if p[i] == '/' && p[i-1] == '/' {
			return false
		}
		if p[i] == '.' && p[i-1] == '/' {
			// "/." or "/.." followed by "/" or end is a dot segment.
			j := i + 1
			if j < len(p) && p[j] == '.' {
				j++
			}
			if j == len(p) || p[j] == '/' {
				return false
			}
		}
	}
	return true
}
