package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memConn is a connection that reads a fixed upstream output and throws
// away what is written to it.
type memConn struct {
	io.Reader
	written bytes.Buffer
}

func (m *memConn) Write(p []byte) (int, error)      { return m.written.Write(p) }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// memConnOf wraps upstream output as a pooled-client connection.
func memConnOf(c *Client, output []byte) (*conn, *memConn) {
	mc := &memConn{Reader: bytes.NewReader(output)}
	pc := &conn{nc: mc, addr: TCP("mem:1"), br: bufio.NewReaderSize(mc, connBufferSize), bw: bufio.NewWriterSize(mc, connBufferSize)}
	pc.onCancel = pc.interrupt
	return pc, mc
}

// testRequest is a request with a body, headers to map and to skip, and
// the facts CGI-style variables carry.
func testRequest(body string) *Request {
	req := &Request{
		Method: "POST", Target: "/app/x%20y?q=1&r=%2F", Host: "example.com:8080",
		Header: http.Header{
			"Content-Type": {"text/plain"}, "Cookie": {"a=1", "b=2"}, "X-Custom": {"v"},
			"Connection": {"x-hop"}, "X-Hop": {"secret"}, "X_Forwarded_For": {"6.6.6.6"}, "Proxy": {"http://evil"},
		},
		Skip:          func(name string) bool { return name == "Connection" || name == "X-Hop" },
		Extra:         []Field{{Name: "X-Forwarded-For", Value: "192.0.2.7"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Gateway: Gateway{Path: "/app/x y", RequestURI: "/app/x%20y?q=1&r=%2F", Proto: "HTTP/1.1",
			RemoteAddr: "192.0.2.7", RemotePort: "5555", ServerPort: "8080", HTTPS: true,
			Params: []Field{{Name: "APP_ENV", Value: "test"}}},
	}
	return req
}

// checkVars checks the variables every protocol sends for testRequest.
func checkVars(t *testing.T, vars map[string]string, scriptName, pathInfo string) {
	t.Helper()
	for k, want := range map[string]string{
		"REQUEST_METHOD": "POST", "QUERY_STRING": "q=1&r=%2F", "REQUEST_URI": "/app/x%20y?q=1&r=%2F",
		"CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "5", "SCRIPT_NAME": scriptName, "PATH_INFO": pathInfo,
		"SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https", "HTTPS": "on", "REMOTE_ADDR": "192.0.2.7",
		"REMOTE_PORT": "5555", "SERVER_PORT": "8080", "SERVER_NAME": "example.com", "HTTP_HOST": "example.com:8080",
		"HTTP_COOKIE": "a=1; b=2", "HTTP_X_CUSTOM": "v", "HTTP_X_FORWARDED_FOR": "192.0.2.7", "APP_ENV": "test",
	} {
		if got, ok := vars[k]; !ok || got != want {
			t.Errorf("%s = %q (set: %v), want %q", k, got, ok, want)
		}
	}
	for _, k := range []string{"HTTP_X_HOP", "HTTP_CONNECTION", "HTTP_PROXY", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"} {
		if v, ok := vars[k]; ok {
			t.Errorf("%s = %q was sent", k, v)
		}
	}
}

func TestUWSGIRequestPacket(t *testing.T) {
	u := NewUWSGI(Options{}, GatewayOptions{ScriptName: "/app"})
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	if err := u.write(bw, testRequest("hello")); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	if b[0] != 0 || b[3] != 0 {
		t.Fatalf("modifiers %d %d", b[0], b[3])
	}
	size := int(binary.LittleEndian.Uint16(b[1:3]))
	vars := map[string]string{}
	p := b[4 : 4+size]
	for len(p) > 0 {
		kl := int(binary.LittleEndian.Uint16(p))
		k := string(p[2 : 2+kl])
		p = p[2+kl:]
		vl := int(binary.LittleEndian.Uint16(p))
		vars[k] = string(p[2 : 2+vl])
		p = p[2+vl:]
	}
	checkVars(t, vars, "/app", "/x y")
	if body := string(b[4+size:]); body != "hello" {
		t.Errorf("body %q", body)
	}
}

func TestSCGIRequestNetstring(t *testing.T) {
	s := NewSCGI(Options{}, GatewayOptions{})
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	if err := s.write(bw, testRequest("hello")); err != nil {
		t.Fatal(err)
	}
	b := out.String()
	n, rest, _ := strings.Cut(b, ":")
	size, _ := strconv.Atoi(n)
	if rest[size] != ',' || rest[size+1:] != "hello" {
		t.Fatalf("netstring framing: %q", b)
	}
	parts := strings.Split(rest[:size], "\x00")
	if parts[0] != "CONTENT_LENGTH" || parts[2] != "SCGI" || parts[3] != "1" {
		t.Errorf("CONTENT_LENGTH and SCGI must come first: %q", parts[:4])
	}
	vars := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		vars[parts[i]] = parts[i+1]
	}
	checkVars(t, vars, "", "/app/x y")
}

// parseFCGIRequest splits a FastCGI request into its variables and stdin.
func parseFCGIRequest(t *testing.T, b []byte) (map[string]string, string, bool) {
	t.Helper()
	var params, stdin []byte
	keep := false
	for len(b) >= 8 {
		typ, n, pad := b[1], int(binary.BigEndian.Uint16(b[4:6])), int(b[6])
		content := b[8 : 8+n]
		switch typ {
		case fcgiBeginRequest:
			keep = content[2]&1 == 1
		case fcgiParams:
			params = append(params, content...)
		case fcgiStdin:
			stdin = append(stdin, content...)
		}
		b = b[8+n+pad:]
	}
	vars := map[string]string{}
	readLen := func() int {
		if params[0]&0x80 == 0 {
			n := int(params[0])
			params = params[1:]
			return n
		}
		n := int(binary.BigEndian.Uint32(params) & 0x7fffffff)
		params = params[4:]
		return n
	}
	for len(params) > 0 {
		kl := readLen()
		vl := readLen()
		vars[string(params[:kl])] = string(params[kl : kl+vl])
		params = params[kl+vl:]
	}
	return vars, string(stdin), keep
}

func TestFastCGIRequestAndScripts(t *testing.T) {
	f := NewFastCGI(Options{}, FastCGIOptions{Root: "/srv/www/", Index: "index.php", Split: regexp.MustCompile(`^(.+?\.php)(/.*)$`), KeepConn: true})
	for _, tc := range []struct{ path, script, info, uri string }{
		{"/app/index.php/x y", "/app/index.php", "/x y", "/app/index.php/x y"},
		{"/dir/", "/dir/index.php", "", "/dir/index.php"},
		{"/", "/index.php", "", "/index.php"},
		{"/../../etc/passwd.php", "/etc/passwd.php", "", "/etc/passwd.php"},
		{"/a/./b/../c.php/extra/", "/a/c.php", "/extra/index.php", "/a/c.php/extra/index.php"},
		{"/up/evil.jpg/x.php", "/up/evil.jpg/x.php", "", "/up/evil.jpg/x.php"},
	} {
		sv, err := f.script(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if sv.scriptName != tc.script || sv.pathInfo != tc.info || sv.documentURI != tc.uri || sv.scriptFilename != "/srv/www"+tc.script {
			t.Errorf("%s: script %q info %q uri %q file %q", tc.path, sv.scriptName, sv.pathInfo, sv.documentURI, sv.scriptFilename)
		}
	}
	if _, err := f.script("/a\x00.php"); err == nil {
		t.Error("a NUL in the path was accepted")
	}
	req := testRequest("hello")
	req.Gateway.Path = "/app/index.php/x y"
	sv, _ := f.script(req.Gateway.Path)
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	if err := f.write(bw, req, sv); err != nil {
		t.Fatal(err)
	}
	vars, stdin, keep := parseFCGIRequest(t, out.Bytes())
	checkVars(t, vars, "/app/index.php", "/x y")
	if vars["SCRIPT_FILENAME"] != "/srv/www/app/index.php" || vars["DOCUMENT_ROOT"] != "/srv/www" || vars["REDIRECT_STATUS"] != "200" {
		t.Errorf("FastCGI variables: %v", vars)
	}
	if stdin != "hello" || !keep {
		t.Errorf("stdin %q, keep-alive %v", stdin, keep)
	}
	// Without KeepConn the server is asked to close after the request.
	out.Reset()
	req.Body = io.NopCloser(strings.NewReader("hello"))
	if err := NewFastCGI(Options{}, FastCGIOptions{Root: "/srv/www"}).write(bw, req, sv); err != nil {
		t.Fatal(err)
	}
	if _, _, keep := parseFCGIRequest(t, out.Bytes()); keep {
		t.Error("FCGI_KEEP_CONN asked for without KeepConn")
	}
}

// fcgiRecord builds one FastCGI record of request 1.
func fcgiRecord(typ byte, content string) string {
	n := len(content)
	return string([]byte{1, typ, 0, 1, byte(n >> 8), byte(n), 0, 0}) + content
}

func fcgiEnd() string { return fcgiRecord(fcgiEndRequest, "\x00\x00\x00\x00\x00\x00\x00\x00") }

func TestFastCGIResponses(t *testing.T) {
	var logged []string
	f := NewFastCGI(Options{}, FastCGIOptions{Root: "/srv", Index: "index.php", KeepConn: true, Stderr: func(_ context.Context, msg string) {
		logged = append(logged, msg)
	}})
	for _, tc := range []struct {
		name, output, method string
		status               int
		body                 string
		reuse, fail          bool
	}{
		{"status header, split records, stderr", fcgiRecord(fcgiStdout, "Status: 404 Not Found\r\nX-A: 1\r\n") + fcgiRecord(fcgiStderr, "oops") +
			fcgiRecord(fcgiStdout, "\r\nmissing") + fcgiRecord(fcgiStdout, "") + fcgiEnd(), "GET", 404, "missing", true, false},
		{"no status is 200", fcgiRecord(fcgiStdout, "Content-Type: text/plain\r\n\r\nok") + fcgiEnd(), "GET", 200, "ok", true, false},
		{"location is 302", fcgiRecord(fcgiStdout, "Location: /x\r\n\r\n") + fcgiEnd(), "GET", 302, "", true, false},
		{"content-length cuts extra output", fcgiRecord(fcgiStdout, "Content-Length: 2\r\n\r\nokEXTRA") + fcgiEnd(), "GET", 200, "ok", true, false},
		{"short of content-length", fcgiRecord(fcgiStdout, "Content-Length: 9\r\n\r\nok") + fcgiEnd(), "GET", 200, "ok", false, true},
		{"body after HEAD dropped", fcgiRecord(fcgiStdout, "X-A: 1\r\n\r\nbody") + fcgiEnd(), "HEAD", 200, "", true, false},
		{"bytes after END_REQUEST", fcgiRecord(fcgiStdout, "X-A: 1\r\n\r\nok") + fcgiEnd() + "junk", "GET", 200, "ok", false, false},
		{"other request id", "\x01\x06\x00\x02\x00\x02\x00\x00ok", "GET", 0, "", false, true},
		{"overloaded", fcgiRecord(fcgiEndRequest, "\x00\x00\x00\x00\x02\x00\x00\x00"), "GET", 0, "", false, true},
		{"head without end", fcgiRecord(fcgiStdout, "X-A: 1\r\n"), "GET", 0, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, _ := memConnOf(f.base, []byte(tc.output))
			req := testRequest("")
			req.Method, req.Body, req.ContentLength = tc.method, nil, 0
			req.Gateway.Path = "/index.php"
			res, err := f.exchange(context.Background(), pc, req)
			if err != nil {
				if !tc.fail {
					t.Fatal(err)
				}
				return
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if (err != nil) != tc.fail {
				t.Fatalf("body error %v", err)
			}
			if res.StatusCode != tc.status || string(body) != tc.body || res.Header.Get("Status") != "" {
				t.Errorf("%d %q %v", res.StatusCode, body, res.Header)
			}
			f.base.conns.mu.Lock()
			pooled := len(f.base.conns.idle[pc.addr])
			delete(f.base.conns.idle, pc.addr)
			f.base.conns.mu.Unlock()
			if (pooled == 1) != tc.reuse {
				t.Errorf("connection pooled: %v, want %v", pooled == 1, tc.reuse)
			}
		})
	}
	if len(logged) != 1 || logged[0] != "oops" {
		t.Errorf("stderr logged: %q", logged)
	}
}

func TestGatewayHeads(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		status int
		ok     bool
	}{
		{"HTTP/1.1 201 Created\r\nX-A: 1\r\n\r\n", 201, true},
		{"Status: 418 Teapot\r\nX-A: 1\r\n\r\n", 418, true},
		{"X-A: 1\r\n\r\n", 200, true},
		{"Location: http://x/\r\n\r\n", 302, true},
		{"Status: 4O4\r\n\r\n", 0, false},
		{"Status: 200\r\nStatus: 404\r\n\r\n", 0, false},
		{"Status: 100 Continue\r\n\r\n", 0, false},
		{"X-A: 1\n\n", 0, false},
		{"\r\nX-A: 1\r\n\r\n", 0, false},
		{"X-A: 1\r\n", 0, false},
		{"X-A: " + strings.Repeat("a", MaxResponseHead) + "\r\n\r\n", 0, false},
	} {
		h, err := readGatewayHead(bufio.NewReader(strings.NewReader(tc.raw)), nil)
		if (err == nil) != tc.ok || err == nil && h.status != tc.status {
			t.Errorf("%.40q: %v %v", tc.raw, h, err)
		}
	}
}

// FuzzGatewayResponse feeds arbitrary upstream output to the uwsgi and
// SCGI response path: it must never panic or hang, and a body with a
// Content-Length never reads past it.
func FuzzGatewayResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"), false)
	f.Add([]byte("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nmissing"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), true)
	f.Add([]byte("Location: /x\r\n\r\n"), false)
	u := NewUWSGI(Options{}, GatewayOptions{})
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		pc, _ := memConnOf(u.base, data)
		req := testRequest("")
		req.Body, req.ContentLength = nil, 0
		if head {
			req.Method = "HEAD"
		}
		res, err := u.base.exchangeAs(context.Background(), pc, req, &u.wf)
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ContentLength >= 0 && n > res.ContentLength {
			t.Fatalf("read %d bytes of a %d-byte body", n, res.ContentLength)
		}
	})
}

// FuzzFastCGIResponse feeds an arbitrary record stream to the FastCGI
// response path: it must never panic or hang, never put the connection
// back unless the exchange ended cleanly, and never read past a
// Content-Length.
func FuzzFastCGIResponse(f *testing.F) {
	f.Add([]byte(fcgiRecord(fcgiStdout, "Status: 200 OK\r\nContent-Length: 2\r\n\r\nok")+fcgiEnd()), false)
	f.Add([]byte(fcgiRecord(fcgiStderr, "warn")+fcgiRecord(fcgiStdout, "X: 1\r\n\r\nbody")+fcgiEnd()), true)
	f.Add([]byte(fcgiRecord(fcgiStdout, "X: 1\r")+fcgiRecord(fcgiStdout, "\n\r\n")+fcgiEnd()+"x"), false)
	fc := NewFastCGI(Options{}, FastCGIOptions{Root: "/srv", Index: "index.php", KeepConn: true})
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		pc, _ := memConnOf(fc.base, data)
		req := testRequest("")
		req.Body, req.ContentLength = nil, 0
		if head {
			req.Method = "HEAD"
		}
		req.Gateway.Path = "/index.php"
		res, err := fc.exchange(context.Background(), pc, req)
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ContentLength >= 0 && n > res.ContentLength {
			t.Fatalf("read %d bytes of a %d-byte body", n, res.ContentLength)
		}
		fc.base.conns.closeIdle()
	})
}
