package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawConn is a client connection from a given loopback address that
// speaks HTTP/1.1 by hand, so a test controls exactly which connections
// are open.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialFrom opens a TCP connection to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// roundTrip sends a keep-alive GET of path and returns the status, or an
// error when the connection was closed without an answer.
func (c *rawConn) roundTrip(path string) (int, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// served opens a connection from ip and reports whether a request on it
// is answered.
func served(t *testing.T, ip, addr string) bool {
	t.Helper()
	c := dialFrom(t, ip, addr)
	defer c.Close()
	st, err := c.roundTrip("/")
	return err == nil && st == 200
}

func TestConnLimitPerAddressAndTotal(t *testing.T) {
	t.Parallel()
	addr, admin := freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: %s
sites:
  - listen: ["%s"]
    conn_limit: {per_ip: 3, total: 5}
    routes:
      - path: /
        respond: {body: ok}
`, admin, addr), addr, admin)

	// Three keep-alive connections from one address, idle after a
	// request each: all count.
	var held []*rawConn
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		if st, err := c.roundTrip("/"); err != nil || st != 200 {
			t.Fatalf("connection within the limit: %d %v", st, err)
		}
		held = append(held, c)
	}
	if served(t, "127.0.0.2", addr) {
		t.Fatal("a fourth connection from the same address was served")
	}
	// Another address has its own three, up to the total of five.
	for range 2 {
		c := dialFrom(t, "127.0.0.3", addr)
		if st, err := c.roundTrip("/"); err != nil || st != 200 {
			t.Fatalf("another address: %d %v", st, err)
		}
		held = append(held, c)
	}
	if served(t, "127.0.0.4", addr) {
		t.Fatal("a connection beyond the total was served")
	}
	// The held connections still work, and closing one frees its place.
	if st, err := held[0].roundTrip("/"); err != nil || st != 200 {
		t.Fatalf("held connection: %d %v", st, err)
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for !served(t, "127.0.0.2", addr) {
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's place was not given back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := scrape(t, "http://"+admin+"/metrics")
	if v := metricValue(t, text, "gatehouse_refused_total", map[string]string{"reason": "conn"}); v < 2 {
		t.Errorf("refused connections counted %v, want at least 2", v)
	}
}

func TestBanEarnedListedEnforcedAndLifted(t *testing.T) {
	t.Parallel()
	addr, admin := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	g := startGatehouse(t, fmt.Sprintf(`admin: %s
bans: {threshold: 5, window: 10s, duration: 1m}
sites:
  - listen: ["%s"]
    routes:
      - path: /
        respond: {body: ok}
      - path: /wp-login.php
        respond: {status: 404, body: nope}
`, admin, addr), addr, admin)
	cfg := []string{"-c", g.cfgPath}

	// A scanner on one keep-alive connection: five 404s, and the next
	// request on the same connection is already refused.
	scanner := dialFrom(t, "127.0.0.2", addr)
	for i := 1; i <= 5; i++ {
		if st, err := scanner.roundTrip("/wp-login.php"); err != nil || st != 404 {
			t.Fatalf("probe %d: %d %v", i, st, err)
		}
	}
	if st, err := scanner.roundTrip("/"); err != nil || st != 403 {
		t.Fatalf("request after the threshold on the open connection: %d %v, want 403", st, err)
	}
	// New connections from it are closed at accept; others are served.
	if served(t, "127.0.0.2", addr) {
		t.Fatal("a banned address's new connection was served")
	}
	if !served(t, "127.0.0.3", addr) {
		t.Fatal("another address was refused")
	}

	// Listed by the admin API and the CLI.
	res, body := get(t, "http://"+admin+"/bans", nil)
	var list []struct {
		IP      string    `json:"ip"`
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /bans: %d %s", res.StatusCode, body)
	}
	if len(list) != 1 || list[0].IP != "127.0.0.2" || time.Until(list[0].Expires) < 50*time.Second || time.Until(list[0].Expires) > 61*time.Second {
		t.Fatalf("GET /bans: %s", body)
	}
	if out, code := runCLI(t, dir, append([]string{"bans", "list"}, cfg...)...); code != 0 || !strings.Contains(out, "127.0.0.2") {
		t.Fatalf("bans list: %d %s", code, out)
	}
	text := scrape(t, "http://"+admin+"/metrics")
	if v := metricValue(t, text, "gatehouse_bans_active", nil); v != 1 {
		t.Errorf("gatehouse_bans_active %v", v)
	}
	if v := metricValue(t, text, "gatehouse_refused_total", map[string]string{"reason": "ban"}); v < 2 {
		t.Errorf("ban refusals counted %v, want at least 2", v)
	}

	// Lifted by the CLI; an operator's ban through it holds.
	if out, code := runCLI(t, dir, append([]string{"bans", "rm"}, append(cfg, "127.0.0.2")...)...); code != 0 {
		t.Fatalf("bans rm: %d %s", code, out)
	}
	if !served(t, "127.0.0.2", addr) {
		t.Fatal("the lifted ban still refuses")
	}
	if out, code := runCLI(t, dir, append([]string{"bans", "add"}, append(cfg, "127.0.0.3", "10m")...)...); code != 0 || !strings.Contains(out, "127.0.0.3 banned until") {
		t.Fatalf("bans add: %d %s", code, out)
	}
	if served(t, "127.0.0.3", addr) {
		t.Fatal("the operator's ban did not hold")
	}
	if out, code := runCLI(t, dir, append([]string{"bans", "add"}, append(cfg, "not-an-ip")...)...); code == 0 || !strings.Contains(out, "want an IPv4 or IPv6 address") {
		t.Fatalf("bans add of a bad address: %d %s", code, out)
	}
	res, _ = send(t, "DELETE", "http://"+admin+"/bans/127.0.0.9", nil, nil)
	if res.StatusCode != 404 {
		t.Errorf("DELETE of an address not banned: %d", res.StatusCode)
	}
}

// readResponse reads one response from c and returns its body.
func readResponse(c *rawConn) ([]byte, error) {
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}
