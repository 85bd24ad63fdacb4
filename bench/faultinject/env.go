package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// env is one Gatehouse process and what it is configured against.
type env struct {
	*harness.Gatehouse
	dir           string
	cfg           string
	cert, key     string
	addr, tlsAddr string // plain HTTP/1.1 (and h2c), and https
	metricsAddr   string
	spoolDir      string
	up, deaf      net.Addr
	flapA, flapB  net.Addr
	client        *http.Client
	tlsConf       *tls.Config // the client's: any certificate
	ordinaryURL   string
}

// config is Gatehouse's config; marker is answered on /marker, so that a
// reload is seen to have taken effect. The plain and the https listener
// are two sites with the same routes (a site with both would redirect
// plain HTTP to HTTPS).
func (e *env) config(marker int) string {
	routes := fmt.Sprintf(`    routes:
      - path: /hello
        respond: {body: "hello\n"}
      - path: /marker
        respond: {body: "%d\n"}
      - path: /flap/
        proxy: {to: flapping, response_timeout: 1s, idle_timeout: 1s}
      - path: /deaf/
        proxy: {to: "http://%s", response_timeout: 1s, idle_timeout: 1s}
      - path: /
        proxy: {to: "http://%s", response_timeout: 1s, idle_timeout: 1s}
`, marker, e.deaf, e.up)
	return fmt.Sprintf(`admin: "off"
access_log: {output: "off"}
metrics: {listen: "%s"}
client: {header_timeout: 2s}
buffering: {spool_dir: "%s"}
upstreams:
  flapping:
    servers: ["http://%s", "http://%s"]
    health: {active: {path: /, interval: 500ms, timeout: 200ms}}
sites:
  - listen: ["%s"]
%s  - listen: ["https://%s"]
    tls: {cert: "%s", key: "%s"}
%s`, e.metricsAddr, e.spoolDir, e.flapA, e.flapB, e.addr, routes, e.tlsAddr,
		e.cert, e.key, routes)
}

// start writes the config and a certificate and starts bin on them.
func (e *env) start(bin string) error {
	var err error
	if e.cert, e.key, err = harness.WriteCert(e.dir); err != nil {
		return err
	}
	e.addr, e.tlsAddr, e.metricsAddr = harness.FreeAddr(), harness.FreeAddr(), harness.FreeAddr()
	e.cfg = filepath.Join(e.dir, "gatehouse.yaml")
	if err := os.WriteFile(e.cfg, []byte(e.config(0)), 0o644); err != nil {
		return err
	}
	e.tlsConf = &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	e.ordinaryURL = "http://" + e.addr + "/ok"
	e.Gatehouse, err = harness.Start(bin, e.cfg, filepath.Join(e.dir, "gatehouse.log"), e.metricsAddr, e.addr, e.tlsAddr)
	return err
}
