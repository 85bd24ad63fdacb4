// Package reqinfo carries the facts about one request that several layers
// share: its ID, the real client address, whether the peer is a trusted
// proxy, and what the proxy layer recorded about the upstream exchange. The
// access log reads it when the request ends.
package reqinfo

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Info is the shared record of one request.
type Info struct {
	// ID is the request ID, generated or kept from a trusted peer.
	ID string
	// Start is when the request's handling began.
	Start time.Time
	// Peer is the IP address of the connection's remote end.
	Peer string
	// Captures are the groups of the route's regex match ($1...), when the
	// route is a regex.
	Captures []string
	// ClientIP is the real client: the peer, or the address a trusted proxy
	// peer forwarded; ClientAddr is it parsed (invalid for a peer on a
	// unix socket).
	ClientIP   string
	ClientAddr netip.Addr
	// Trusted reports whether the peer is a trusted proxy.
	Trusted bool
	// Scheme is the scheme the client used (http or https).
	Scheme string
	// ClientHost is the Host the client asked for, when a request header
	// rule replaced the request's ("" otherwise): X-Forwarded-Host and
	// the access log still name the client's.
	ClientHost string
	// ServerPort is the port of the listener the request arrived on (for
	// a unix socket listener, the scheme's default port).
	ServerPort string
	// Upstream is the address of the upstream server that served it.
	Upstream string
	// UpstreamTime is the time until the upstream's response headers.
	UpstreamTime time.Duration
	// Status overrides the logged status, e.g. 499 when the client left.
	Status int
	// Route is the path of the route that answered, as configured.
	Route string
	// TraceID is the request's trace ID when tracing is on.
	TraceID string
	// Cache is what the HTTP cache did (hit, miss, stale, revalidated,
	// collapsed, bypass), empty where no cache applies.
	Cache string
	// WAF is what the WAF did when a rule matched: block, detect (would
	// have blocked) or pass; WAFRules are the ids of the rules that
	// matched, comma-separated; WAFScore the inbound anomaly score.
	WAF      string
	WAFRules string
	WAFScore int
	// BodyError is set when reading the client's request body failed.
	BodyError error
}

type ctxKey struct{}

// valueHolder is a context that can hold one value itself, such as the
// request contexts of the HTTP/1.1 front end.
type valueHolder interface {
	SetValue(key, val any) bool
}

// With returns ctx carrying info: ctx itself when it can hold the value,
// else a new context.
func With(ctx context.Context, info *Info) context.Context {
	if h, ok := ctx.(valueHolder); ok && h.SetValue(ctxKey{}, info) {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, info)
}

// From returns the Info in ctx, or a throw-away one when there is none, so
// callers never need a nil check.
func From(ctx context.Context) *Info {
	if info, ok := ctx.Value(ctxKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// NewID returns a random 128-bit request ID in hex. The bits come from the
// runtime's per-thread ChaCha8 generator (seeded from the system's random
// source): unpredictable enough for an ID and free of a system call.
func NewID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

// ValidID reports whether a peer-sent request ID is safe to keep: 1 to 128
// characters of letters, digits, '-', '_', '.', ':' or '='.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '=':
		default:
			return false
		}
	}
	return true
}
