package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"testing"
)

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	ca, rogue := newTestCA(t), newTestCA(t)
	shopCert, shopKey := ca.issue("shop.test")
	otherCert, otherKey := ca.issue("other.test")
	aliceCert, aliceKey := ca.issue("client.alice", "alice.example")
	mallCert, mallKey := rogue.issue("client.mallory")
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["https://%[1]s"]
    hosts: [shop.test]
    tls: {cert: %[2]s, key: %[3]s}
    auth: {client_cert: {ca: %[4]s}}
    routes:
      - path: /
        proxy: {to: "http://%[5]s"}
  - listen: ["https://%[1]s"]
    hosts: [other.test]
    tls: {cert: %[6]s, key: %[7]s}
    routes:
      - path: /
        proxy: {to: "http://%[5]s"}
`, addr, shopCert, shopKey, ca.File, up, otherCert, otherKey), addr)
	_, port, _ := net.SplitHostPort(addr)
	curlTo := func(name string, args ...string) ([]byte, error) {
		base := []string{"-sS", "--max-time", "10", "--cacert", ca.File, "--resolve", name + ":" + port + ":127.0.0.1",
			"-H", "X-Client-DN: CN=root", "-H", "X_Client_DN: CN=root"}
		return exec.Command("curl", append(base, args...)...).Output()
	}
	out, err := curlTo("shop.test", "--cert", aliceCert, "--key", aliceKey, "https://shop.test:"+port+"/headers")
	var env map[string]string
	if err != nil || json.Unmarshal(out, &env) != nil {
		t.Fatalf("with a client certificate: %v %s", err, out)
	}
	if env["HTTP_X_CLIENT_DN"] != "CN=client.alice" || env["HTTP_X_CLIENT_SAN"] != "DNS:client.alice, DNS:alice.example" {
		t.Fatalf("the app saw DN %q, SAN %q", env["HTTP_X_CLIENT_DN"], env["HTTP_X_CLIENT_SAN"])
	}
	// No certificate, or one from another CA: the handshake fails.
	if out, err := curlTo("shop.test", "https://shop.test:"+port+"/headers"); err == nil {
		t.Fatalf("served without a client certificate: %s", out)
	}
	if out, err := curlTo("shop.test", "--cert", mallCert, "--key", mallKey, "https://shop.test:"+port+"/headers"); err == nil {
		t.Fatalf("served with a certificate of another CA: %s", out)
	}
	// The other site on the listener asks for none; a handshake for its
	// name cannot reach the shop through the Host header.
	if out, err := curlTo("other.test", "https://other.test:"+port+"/whoami"); err != nil || string(out) != "app" {
		t.Fatalf("the other site: %v %s", err, out)
	}
	code, _ := curlTo("other.test", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: shop.test", "https://other.test:"+port+"/headers")
	if string(code) != "403" {
		t.Fatalf("the shop through another site's handshake: %s, want 403", code)
	}
}
