package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestProxyToHTTPSAndH2CUpstreams puts nginx behind Gatehouse three ways:
// over TLS verified against a private CA with a client certificate (mutual
// TLS), over TLS without the client certificate, and over h2c (HTTP/2
// without TLS, prior knowledge).
func TestProxyToHTTPSAndH2CUpstreams(t *testing.T) {
	ca := newTestCA(t)
	upCert, upKey := ca.issue("upstream.test")
	clientCert, clientKey := ca.issue("gatehouse-client")
	tlsAddr, h2cAddr := freeAddr(t), freeAddr(t)
	runNginx(t, fmt.Sprintf(`
  server {
    listen %s ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    ssl_verify_client optional;
    location / {
      if ($ssl_client_verify != SUCCESS) { return 403 "no client certificate\n"; }
      return 200 "tls $ssl_protocol client=$ssl_client_s_dn sni=$ssl_server_name host=$http_host\n";
    }
  }
  server {
    listen %s http2;
    location / { return 200 "$server_protocol $request_method length=$content_length host=$http_host\n"; }
  }
`, tlsAddr, upCert, upKey, ca.File, h2cAddr), tlsAddr, h2cAddr)

	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%[1]s"]
    routes:
      - path: /mtls/
        proxy:
          to: "https://%[2]s"
          tls: {ca: %[4]s, cert: %[5]s, key: %[6]s, server_name: upstream.test}
      - path: /no-client-cert/
        proxy:
          to: "https://%[2]s"
          tls: {ca: %[4]s, server_name: upstream.test}
      - path: /untrusted/
        proxy: {to: "https://%[2]s", tls: {server_name: upstream.test}}
      - path: /h2c/
        proxy: {to: "h2c://%[3]s"}
`, addr, tlsAddr, h2cAddr, ca.File, clientCert, clientKey), addr)
	base := "http://" + addr

	res, body := get(t, base+"/mtls/x", nil)
	if res.StatusCode != 200 || !strings.HasSuffix(string(body), " client=CN=gatehouse-client sni=upstream.test host="+addr+"\n") {
		t.Errorf("mutual TLS upstream: %d %q", res.StatusCode, body)
	}
	res, body = get(t, base+"/no-client-cert/x", nil)
	if res.StatusCode != 403 {
		t.Errorf("TLS upstream without a client certificate: %d %q", res.StatusCode, body)
	}
	// A certificate from a CA the proxy does not trust is refused.
	res, _ = get(t, base+"/untrusted/x", nil)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("untrusted upstream certificate: %d, want 502", res.StatusCode)
	}

	res, body = get(t, base+"/h2c/x?q=1", nil)
	if res.StatusCode != 200 || string(body) != "HTTP/2.0 GET length= host="+addr+"\n" {
		t.Errorf("h2c upstream GET: %d %q", res.StatusCode, body)
	}
	payload := bytes.Repeat([]byte("x"), 1<<20)
	res, err := http.Post(base+"/h2c/upload", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, _ = got.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || got.String() != "HTTP/2.0 POST length=1048576 host="+addr+"\n" {
		t.Errorf("h2c upstream POST: %d %q", res.StatusCode, got.String())
	}
}
