//lint:file-ignore SA1019 net/http's client refuses the :protocol pseudo-header; x/net's deprecated HTTP/2 Transport is the Go client that sends an extended CONNECT.

package e2e

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// startWebSocketEcho runs a WebSocket server (RFC 6455 handshake, text
// frames echoed upper-cased) that speaks HTTP/1.1 only, as most app
// servers do.
func startWebSocketEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				key := req.Header.Get("Sec-WebSocket-Key")
				if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
					fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
					return
				}
				sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"))
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Seen-Path: %s\r\n\r\n",
					base64.StdEncoding.EncodeToString(sum[:]), req.URL.Path)
				for {
					op, payload, err := readWSFrame(br)
					if err != nil || op == 8 {
						_ = writeWSFrame(c, 8, nil, false)
						return
					}
					if err := writeWSFrame(c, op, []byte(strings.ToUpper(string(payload))), false); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// writeWSFrame writes one final WebSocket frame, masked when a client
// sends it.
func writeWSFrame(w io.Writer, op byte, payload []byte, masked bool) error {
	hdr := []byte{0x80 | op, 0}
	switch n := len(payload); {
	case n < 126:
		hdr[1] = byte(n)
	case n < 1<<16:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr[1] = 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	body := payload
	if masked {
		hdr[1] |= 0x80
		mask := [4]byte{1, 2, 3, 4}
		hdr = append(hdr, mask[:]...)
		body = make([]byte, len(payload))
		for i, b := range payload {
			body[i] = b ^ mask[i%4]
		}
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

// readWSFrame reads one WebSocket frame and unmasks it.
func readWSFrame(r io.Reader) (op byte, payload []byte, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	if hdr[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if hdr[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return hdr[0] & 0x0f, payload, nil
}

// announcesExtendedConnect opens an h2c connection to addr and reports
// whether the server's SETTINGS hold SETTINGS_ENABLE_CONNECT_PROTOCOL=1.
func announcesExtendedConnect(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := http2.NewFramer(c, c)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v", f)
	}
	v, ok := sf.Value(http2.SettingEnableConnectProtocol)
	return ok && v == 1
}

// TestWebSocketOverHTTP2 opens WebSockets over HTTP/2 (RFC 8441 extended
// CONNECT) from a Go client, on an https listener and on an h2c one, to
// an upstream that speaks WebSocket over HTTP/1.1 only; messages go both
// ways, several tunnels share one connection, and the route's path
// reaches the upstream.
func TestWebSocketOverHTTP2(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert, key := ca.issue("ws.test")
	up := startWebSocketEcho(t)
	httpsAddr, h2cAddr, plainAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
client: {rate_grace: 1s}
sites:
  - listen: ["https://%s", "http://%s"]
    https_redirect: false
    tls: {cert: %s, key: %s}
    routes:
      - path: /ws/
        proxy: {to: "http://%s"}
      - path: /
        respond: {status: 200, body: "not a tunnel"}
  - listen: ["http://%s"]
    routes:
      - path: /
        respond: {status: 200, body: "no tunnels here"}
`, httpsAddr, h2cAddr, cert, key, up, plainAddr), httpsAddr, h2cAddr, plainAddr)

	// Extended CONNECT is announced only where a route can take it.
	for addr, want := range map[string]bool{h2cAddr: true, plainAddr: false} {
		if got := announcesExtendedConnect(t, addr); got != want {
			t.Errorf("%s announces extended CONNECT: %v, want %v", addr, got, want)
		}
	}

	for name, tr := range map[string]*http2.Transport{
		"https": {TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "ws.test"}},
		"h2c": {AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			base := "https://ws.test"
			dial := httpsAddr
			if name == "h2c" {
				base = "http://" + h2cAddr
				dial = h2cAddr
			}
			if tr.TLSClientConfig != nil {
				tr.DialTLSContext = func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
					d := tls.Dialer{Config: cfg}
					return d.DialContext(ctx, network, dial)
				}
			}
			defer tr.CloseIdleConnections()
			open := func(path string) (*io.PipeWriter, *http.Response) {
				t.Helper()
				pr, pw := io.Pipe()
				u, _ := url.Parse(base + path)
				req := &http.Request{Method: http.MethodConnect, URL: u, Host: u.Host, Proto: "HTTP/2.0", ProtoMajor: 2,
					Header: http.Header{":protocol": {"websocket"}, "Sec-Websocket-Version": {"13"}}, Body: pr}
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				t.Cleanup(cancel)
				res, err := tr.RoundTrip(req.WithContext(ctx))
				if err != nil {
					t.Fatalf("extended CONNECT %s: %v", path, err)
				}
				return pw, res
			}
			var tunnels []*http.Response
			var writers []*io.PipeWriter
			for i := 0; i < 3; i++ {
				pw, res := open(fmt.Sprintf("/ws/room%d", i))
				if res.StatusCode != 200 || res.Header.Get("X-Seen-Path") != fmt.Sprintf("/ws/room%d", i) || res.Header.Get("Sec-Websocket-Accept") != "" {
					t.Fatalf("tunnel %d: %d %v", i, res.StatusCode, res.Header)
				}
				tunnels, writers = append(tunnels, res), append(writers, pw)
			}
			for round := 0; round < 3; round++ {
				for i, res := range tunnels {
					msg := fmt.Sprintf("hello %d.%d", i, round)
					if err := writeWSFrame(writers[i], 1, []byte(msg), true); err != nil {
						t.Fatal(err)
					}
					op, got, err := readWSFrame(res.Body)
					if err != nil || op != 1 || string(got) != strings.ToUpper(msg) {
						t.Fatalf("tunnel %d: %d %q %v", i, op, got, err)
					}
				}
			}
			// An idle WebSocket outlives the rate grace.
			time.Sleep(2 * time.Second)
			if err := writeWSFrame(writers[1], 1, []byte("still there"), true); err != nil {
				t.Fatal(err)
			}
			if _, got, err := readWSFrame(tunnels[1].Body); err != nil || string(got) != "STILL THERE" {
				t.Fatalf("after idling: %q %v", got, err)
			}
			big := strings.Repeat("x", 200<<10)
			if err := writeWSFrame(writers[0], 1, []byte(big), true); err != nil {
				t.Fatal(err)
			}
			if _, got, err := readWSFrame(tunnels[0].Body); err != nil || string(got) != strings.ToUpper(big) {
				t.Fatalf("200 KB message: %d bytes, %v", len(got), err)
			}
			for i, res := range tunnels {
				_ = writeWSFrame(writers[i], 8, nil, true)
				if op, _, err := readWSFrame(res.Body); err != nil || op != 8 {
					t.Errorf("close %d: %d %v", i, op, err)
				}
				writers[i].Close()
				res.Body.Close()
			}
			// A route that cannot switch protocols refuses the tunnel.
			pw, res := open("/other")
			pw.Close()
			res.Body.Close()
			if res.StatusCode == 200 {
				t.Errorf("a respond route accepted a tunnel")
			}
		})
	}
}
