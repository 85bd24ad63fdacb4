package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// patternReader yields n bytes of a fixed pattern, hashing what it yields,
// and calls at(k) once when k bytes have been read.
type patternReader struct {
	n, off int64
	h      hash.Hash
	atN    int64
	at     func()
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.h.Write(b)
	if p.at != nil && p.off < p.atN && p.off+int64(len(b)) >= p.atN {
		p.at()
	}
	p.off += int64(len(b))
	return len(b), nil
}

// peakRSS reads a process's peak resident set size in bytes.
func peakRSS(t *testing.T, pid int) int64 { return procStatusKB(t, pid, "VmHWM") << 10 }

// procStatusKB reads a kB figure (VmRSS, VmHWM ...) of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func TestHugeBodiesKeepMemoryBounded(t *testing.T) {
	up := startGunicorn(t, 2)
	addr := freeAddr(t)
	spool := t.TempDir()
	g := startGatehouse(t, proxyConfig(addr, up, "buffering: {spool_dir: "+spool+"}"), addr)

	const upload = 300 << 20
	var visible []string
	src := &patternReader{n: upload, h: sha256.New(), atN: 200 << 20, at: func() {
		entries, _ := os.ReadDir(spool)
		for _, e := range entries {
			visible = append(visible, e.Name())
		}
	}}
	req, _ := http.NewRequest("POST", "http://"+addr+"/sha", src)
	req.ContentLength = upload
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := fmt.Sprintf("%d %s length=%d", upload, hex.EncodeToString(src.h.Sum(nil)), upload)
	if string(body) != want {
		t.Fatalf("300 MB upload: upstream saw %q, want %q", body, want)
	}
	if len(visible) > 0 {
		t.Errorf("spool files visible on disk during an upload: %v", visible)
	}

	const download = 64 << 20
	res, err = http.Get(fmt.Sprintf("http://%s/bytes?n=%d", addr, download))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, res.Body)
	res.Body.Close()
	wantH := sha256.New()
	_, _ = io.Copy(wantH, &patternReader{n: download, h: sha256.New()})
	if n != download || hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(wantH.Sum(nil)) {
		t.Fatalf("64 MB download: %d bytes, content differs", n)
	}
	if res.Header.Get("Content-Length") != strconv.Itoa(download) {
		t.Errorf("buffered response lacks Content-Length: %v", res.Header)
	}
	peak := peakRSS(t, g.cmd.Process.Pid)
	t.Logf("peak RSS after 300 MB up and 64 MB down: %d MB", peak>>20)
	if peak > 256<<20 {
		t.Errorf("peak RSS %d MB, want at most 256 MB", peak>>20)
	}
}

func TestSlowClientsNeverPinTheAppServer(t *testing.T) {
	up := startGunicorn(t, 1) // one sync worker: any pinned request would block the rest
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, up, ""), addr)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 10; i++ { // bodies trickling in, one byte for now
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
		conns = append(conns, c)
	}
	for i := 0; i < 2; i++ { // 64 MB responses that nobody reads
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /bytes?n=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	time.Sleep(time.Second)
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 5; i++ {
		res, err := client.Get("http://" + addr + "/ordinary")
		if err != nil {
			t.Fatalf("ordinary request %d while slow clients hold connections: %v", i, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("ordinary request %d: status %d", i, res.StatusCode)
		}
	}
}

func TestUploadFramingTowardsTheUpstream(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /stream/
        proxy: {to: "http://%s"}
        buffer: {request: false}
`, addr, up, up), addr)
	sum := sha256.Sum256([]byte(strings.Repeat("z", 300000)))
	for path, framing := range map[string]string{"/sha": "length=300000", "/stream/sha": "chunked"} {
		// A body of unknown length goes out chunked from the client.
		res, err := http.Post("http://"+addr+path, "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("z", 300000))))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := fmt.Sprintf("300000 %s %s", hex.EncodeToString(sum[:]), framing)
		if string(body) != want {
			t.Errorf("%s: upstream saw %q, want %q", path, body, want)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	rec := startRecorder(t)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
client: {max_headers: 50, min_upload_rate: 1KB, rate_grace: 1s}
sites:
  - listen: ["%s"]
    max_body_size: 10KB
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /small/
        proxy: {to: "http://%s"}
        max_body_size: 100
`, addr, rec.ln.Addr(), rec.ln.Addr()), addr)

	status := func(raw string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, raw)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	cases := []struct{ name, raw, want string }{
		{"long URI", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 Request URI Too Long"},
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 40000) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-N: 1\r\n", 60) + "\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"Content-Length over site limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n", "HTTP/1.1 413 Request Entity Too Large"},
		{"Content-Length over route limit", "POST /small/ HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + strings.Repeat("c", 101), "HTTP/1.1 413 Request Entity Too Large"},
		{"chunked over route limit", "POST /small/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("c", 100) + "\r\n1\r\nc\r\n0\r\n\r\n", "HTTP/1.1 413 Request Entity Too Large"},
		{"body too slow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc", "HTTP/1.1 408 Request Timeout"},
	}
	for _, c := range cases {
		if got := status(c.raw); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if reqs := rec.requests(); len(reqs) > 0 {
		t.Errorf("refused requests reached the upstream: %q", reqs)
	}
	// Within the limits, the same route works.
	if got := status("POST /small/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + strings.Repeat("c", 100)); got != "HTTP/1.1 200 OK" {
		t.Errorf("body at the limit: %q", got)
	}
}

func TestUpstreamIdleTimeout(t *testing.T) {
	up := startGunicorn(t, 2)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s", idle_timeout: 1s}
      - path: /direct/
        proxy: {to: "http://%s", idle_timeout: 1s}
        buffer: {response: false}
`, addr, up, up), addr)
	// Buffered: nothing was sent yet, so the client gets a clean 504.
	res, _ := get(t, "http://"+addr+"/stall?s=3", nil)
	if res.StatusCode != 504 {
		t.Errorf("upstream stalled mid-body (buffered): status %d, want 504", res.StatusCode)
	}
	// Streaming: the response had begun; the connection is cut short.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /direct/stall?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
	// Either the head was still buffered (the client sees the connection
	// close) or part of the body arrived before the cut.
	if r, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		n, err := io.Copy(io.Discard, r.Body)
		if err == nil || n >= 2000 {
			t.Errorf("streamed stall: read %d bytes, err %v; want a cut-off body", n, err)
		}
	}
}

func TestSlowReadersAreDroppedAfterGrace(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	g := startGatehouse(t, proxyConfig(addr, up, "client: {min_download_rate: 1MB, rate_grace: 1s}"), addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	fmt.Fprintf(c, "GET /bytes?n=67108864&reader=stalled HTTP/1.1\r\nHost: x\r\n\r\n")
	// Read nothing: once the grace period is over and the client is behind
	// the minimum rate, the response is given up on (logged as 499) rather
	// than held open for as long as the client likes.
	g.waitLog(`"uri":"/bytes?n=67108864&reader=stalled","proto":"HTTP/1.1","status":499`)
}

func TestSpoolBudgetExhausted(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, up, "buffering: {memory: 64KB, spool_max: 1MB}"), addr)
	// An upload larger than the whole spool cannot be buffered: 503, and
	// the upstream is never contacted with a partial body.
	res, err := http.Post("http://"+addr+"/sha", "application/octet-stream", strings.NewReader(strings.Repeat("u", 3<<20)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Errorf("upload beyond spool_max: status %d, want 503", res.StatusCode)
	}
	// A response larger than the spool streams instead, byte-exact.
	res, body := get(t, fmt.Sprintf("http://%s/bytes?n=%d", addr, 5<<20), nil)
	if res.StatusCode != 200 || len(body) != 5<<20 {
		t.Fatalf("response beyond spool_max: %d, %d bytes", res.StatusCode, len(body))
	}
	for i, b := range body {
		if b != byte(i%251) {
			t.Fatalf("response beyond spool_max differs at byte %d", i)
		}
	}
}
