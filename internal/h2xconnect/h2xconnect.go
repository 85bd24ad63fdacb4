// Package h2xconnect turns on net/http's HTTP/2 extended CONNECT (RFC
// 8441), by which browsers open WebSockets over an HTTP/2 connection.
// net/http enables it only when GODEBUG holds http2xconnect=1 as it
// initializes; importing this package (for its side effect, from the main
// package) puts that there first, unless GODEBUG already says otherwise.
//
// It relies on Go's package initialization order: packages are
// initialized in import-path order as soon as their own imports are, so
// this one, importing only os and strings, runs before net/http.
package h2xconnect

import (
	"os"
	"strings"
)

func init() {
	v := os.Getenv("GODEBUG")
	if strings.Contains(v, "http2xconnect=") {
		return
	}
	if v != "" {
		v += ","
	}
	_ = os.Setenv("GODEBUG", v+"http2xconnect=1")
}
