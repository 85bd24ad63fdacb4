package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// maxCheckBody bounds how much of a health check response is read.
const maxCheckBody = 64 << 10

// checker sends active health checks through a proxy's upstream client.
type checker struct {
	client upstreamClient
	grpc   bool
}

// CloseIdleConnections closes the connections kept between checks.
func (c *checker) CloseIdleConnections() { c.client.CloseIdleConnections() }

// Check sends GET path to s (or, to a gRPC server, a call of the gRPC
// health checking protocol, whatever path says) and returns the status
// of its answer.
func (c *checker) Check(ctx context.Context, s *pool.Server, path, host string) (int, error) {
	if host == "" {
		host = s.Addr.Address
		if s.Addr.Network == "unix" {
			host = "localhost"
		}
	}
	req := &upstream.Request{Method: http.MethodGet, Target: path, Host: host,
		Header:  http.Header{"User-Agent": {"gatehouse-health-check"}},
		Gateway: upstream.Gateway{Path: path, RequestURI: path, Proto: "HTTP/1.1", RemoteAddr: "127.0.0.1", ServerPort: "80"}}
	if c.grpc {
		return c.checkGRPC(ctx, s, req)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		req.Gateway.Path = path[:i]
	}
	res, err := c.client.Do(ctx, s.Addr, req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxCheckBody))
	res.Body.Close()
	return res.StatusCode, nil
}

// checkGRPC calls grpc.health.v1.Health/Check for the whole server: 200
// when it answers SERVING, 503 for any other answer.
func (c *checker) checkGRPC(ctx context.Context, s *pool.Server, req *upstream.Request) (int, error) {
	req.Method, req.Target = http.MethodPost, "/grpc.health.v1.Health/Check"
	req.Header["Content-Type"] = []string{"application/grpc"}
	req.Header["Te"] = []string{"trailers"}
	// An empty HealthCheckRequest: uncompressed, length 0.
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(make([]byte, 5))), 5
	res, err := c.client.Do(ctx, s.Addr, req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxCheckBody))
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	if st := res.Trailer.Get("Grpc-Status") + res.Header.Get("Grpc-Status"); st != "0" {
		return 0, fmt.Errorf("gRPC health check answered status %s %s", st, res.Trailer.Get("Grpc-Message")+res.Header.Get("Grpc-Message"))
	}
	// HealthCheckResponse{status: SERVING}: field 1, varint 1.
	if !bytes.Equal(body, []byte{0, 0, 0, 0, 2, 0x08, 0x01}) {
		return http.StatusServiceUnavailable, nil
	}
	return http.StatusOK, nil
}
