package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// startNginx runs nginx (Debian's nginx-light) as an upstream serving root,
// with keep-alive, gzip for text and a 204 endpoint, and returns its address.
func startNginx(t *testing.T, root string) string {
	t.Helper()
	addr := freeAddr(t)
	runNginx(t, fmt.Sprintf(`
  gzip on; gzip_types text/plain; gzip_min_length 0;
  types { text/plain txt; application/octet-stream bin; }
  server {
    listen %s;
    root %s;
    location = /empty { return 204; }
  }
`, addr, root), addr)
	return addr
}

// runNginx runs nginx with the given http-block directives and waits
// until addrs accept connections.
func runNginx(t *testing.T, httpBlock string, addrs ...string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatal("nginx is not installed: run scripts/test.sh, which installs the test peers")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	_ = os.WriteFile(conf, []byte(fmt.Sprintf(`user root;
worker_processes 1;
error_log %[1]s/error.log;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  keepalive_requests 100000;
%[2]s
}
`, dir, httpBlock)), 0o644)
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-g", "daemon off;")
	runPeer(t, "nginx", cmd, syscall.SIGQUIT, addrs[0])
	for _, a := range addrs[1:] {
		waitPort(t, a)
	}
}

func TestProxyToNginxUpstream(t *testing.T) {
	root := t.TempDir()
	big := make([]byte, 20<<20+3)
	_, _ = rand.Read(big)
	_ = os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644)
	text := bytes.Repeat([]byte("gatehouse in front of nginx\n"), 5000)
	_ = os.WriteFile(filepath.Join(root, "text.txt"), text, 0o644)
	up := startNginx(t, root)
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, up, ""), addr)
	base := "http://" + addr

	// A large file (sendfile upstream, Content-Length) arrives byte-exact, twice
	// over one keep-alive client connection.
	for i := 0; i < 2; i++ {
		res, body := get(t, base+"/big.bin", nil)
		if res.StatusCode != 200 || !bytes.Equal(body, big) {
			t.Fatalf("big file: %d, %d bytes, equal=%v", res.StatusCode, len(body), bytes.Equal(body, big))
		}
	}
	// nginx answers gzip with chunked framing; the body must decode to the file.
	tr := &http.Transport{DisableCompression: true}
	req, _ := http.NewRequest("GET", base+"/text.txt", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatalf("gzip body: %v (headers %v)", err, res.Header)
	}
	plain, err := io.ReadAll(zr)
	res.Body.Close()
	if err != nil || !bytes.Equal(plain, text) || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip text: %v, %d bytes, %v", err, len(plain), res.Header)
	}
	// HEAD keeps the length and has no body; 304 and 204 have none either.
	req, _ = http.NewRequest("HEAD", base+"/big.bin", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 || res.ContentLength != int64(len(big)) {
		t.Fatalf("HEAD: %v %v", res, err)
	}
	res.Body.Close()
	lastMod := res.Header.Get("Last-Modified")
	res, body := get(t, base+"/big.bin", map[string]string{"If-Modified-Since": lastMod})
	if res.StatusCode != 304 || len(body) != 0 {
		t.Errorf("conditional GET: %d with %d bytes", res.StatusCode, len(body))
	}
	res, body = get(t, base+"/empty", nil)
	if res.StatusCode != 204 || len(body) != 0 {
		t.Errorf("204: %d with %d bytes", res.StatusCode, len(body))
	}
	res, _ = get(t, base+"/missing", nil)
	if res.StatusCode != 404 || res.Header.Get("Server") != "gatehouse" {
		t.Errorf("upstream 404: %d, Server %q", res.StatusCode, res.Header.Get("Server"))
	}
}
