package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// gRPC status codes Gatehouse answers with itself.
const (
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// grpcCodeFor maps the HTTP status of an error Gatehouse generates to the
// gRPC status a gRPC client expects, after gRPC's own HTTP mapping: an
// unreachable or overloaded upstream is UNAVAILABLE (clients retry it), a
// timeout DEADLINE_EXCEEDED.
func grpcCodeFor(status int) int {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return grpcUnavailable
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return grpcDeadlineExceeded
	case http.StatusBadRequest:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusRequestEntityTooLarge:
		return grpcResourceExhausted
	}
	return grpcUnknown
}

// writeGRPCStatus answers a gRPC call with a status and no message: a
// "Trailers-Only" response, HTTP 200 with grpc-status in its headers.
func writeGRPCStatus(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	clear(h)
	h["Content-Type"] = []string{"application/grpc"}
	h["Grpc-Status"] = []string{strconv.Itoa(code)}
	h["Grpc-Message"] = []string{url.PathEscape(msg)}
	w.WriteHeader(http.StatusOK)
}

// withGRPCTimeout bounds r's context by the call's grpc-timeout, when it
// names one; cancel is nil when it does not.
func withGRPCTimeout(r *http.Request) (*http.Request, context.CancelFunc) {
	v := r.Header["Grpc-Timeout"]
	if len(v) == 0 {
		return r, nil
	}
	d, ok := parseGRPCTimeout(v[0])
	if !ok {
		return r, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return r.WithContext(ctx), cancel
}

// parseGRPCTimeout reads a grpc-timeout value: at most 8 digits and a unit
// (H, M, S, m, u, n).
func parseGRPCTimeout(s string) (time.Duration, bool) {
	if len(s) < 2 || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// grpcDeadlinePassed reports whether r's gRPC deadline ended the exchange
// (rather than the client going away).
func grpcDeadlinePassed(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.DeadlineExceeded)
}
