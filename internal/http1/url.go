package http1

import (
	"net/url"
	"strings"
)

// requestURL parses a request-target. The common origin-form without
// escapes is split by hand; everything else goes through url.ParseRequestURI.
func requestURL(target string) (*url.URL, error) {
	if target[0] == '/' && strings.IndexByte(target, '%') < 0 && strings.IndexByte(target, '#') < 0 {
		path, query, hasQuery := strings.Cut(target, "?")
		return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}, nil
	}
	return url.ParseRequestURI(target)
}
