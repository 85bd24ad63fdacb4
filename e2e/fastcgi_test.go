package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// phpScripts are the scripts TestPHPFPM serves.
var phpScripts = map[string]string{
	"info.php": `<?php
header("Content-Type: application/json");
setcookie("a", "1"); setcookie("b", "2");
error_log("php says hello on stderr");
$out = [];
foreach (["SCRIPT_NAME","SCRIPT_FILENAME","PATH_INFO","DOCUMENT_ROOT","DOCUMENT_URI","REQUEST_URI","QUERY_STRING",
          "REQUEST_METHOD","CONTENT_TYPE","CONTENT_LENGTH","REMOTE_ADDR","SERVER_PORT","SERVER_NAME","HTTP_HOST",
          "HTTP_X_FORWARDED_FOR","HTTP_PROXY","HTTP_X_HOP","GATEWAY_INTERFACE","SERVER_SOFTWARE"] as $k) {
	$out[$k] = $_SERVER[$k] ?? null;
}
$out["post"] = $_POST;
$out["files"] = array_map(function($f) { return ["name" => $f["name"], "size" => $f["size"], "sha" => hash_file("sha256", $f["tmp_name"])]; }, $_FILES);
echo json_encode($out);
`,
	"dir/index.php":    `<?php echo "index of dir";`,
	"big.php":          `<?php header("Content-Type: application/octet-stream"); for ($i = 0; $i < 160; $i++) { echo str_repeat(chr(65 + $i % 26), 65536); }`,
	"gone.php":         `<?php http_response_code(410); header("X-Why: removed"); echo "gone";`,
	"redirect.php":     `<?php header("Location: /info.php");`,
	"uploads/evil.jpg": `<?php echo "PWNED";`,
}

// startPHPFPM runs php-fpm on a unix socket, serving root, and returns the
// socket's path.
func startPHPFPM(t *testing.T, dir, root string) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/sbin/php-fpm*")
	if len(bins) == 0 {
		t.Fatal("php-fpm is not installed: run scripts/test.sh, which installs the test peers")
	}
	sock := filepath.Join(dir, "php-fpm.sock")
	conf := filepath.Join(dir, "php-fpm.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[global]
error_log = %s/php-fpm.log
daemonize = no
[www]
listen = %s
listen.mode = 0666
pm = static
pm.max_children = 2
php_admin_value[upload_max_filesize] = 16M
php_admin_value[post_max_size] = 16M
`, dir, sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	runPeer(t, "php-fpm", exec.Command(bins[0], "-R", "-F", "-y", conf), syscall.SIGQUIT, "unix:"+sock)
	return sock
}

// TestPHPFPM serves PHP scripts from real php-fpm over FastCGI: scripts
// and PATH_INFO, the index of a directory, a form POST, a file upload, a
// missing script (php-fpm's own 404), statuses and redirects set by the
// script, a large response, paths that try to climb out of the root or to
// run an uploaded file, and the script's error output going to the log,
// never into the response.
func TestPHPFPM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	for name, src := range phpScripts {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := startPHPFPM(t, dir, root)
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: "~ ^/kept/"
        rewrite: [{from: "^/kept(/.*)$", to: "$1"}]
        proxy: {to: "fastcgi://unix:%[2]s"}
        fastcgi: {root: "%[3]s", keep_conn: true}
      - path: "~ (\\.php(/|$)|/$)"
        proxy: {to: "fastcgi://unix:%[2]s"}
        fastcgi: {root: "%[3]s"}
      - path: /
        respond: {status: 404, body: "not php"}
`, addr, sock, root), addr)
	base := "http://" + addr

	info := func(res *http.Response, body []byte) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%d %v: %q", res.StatusCode, err, body)
		}
		return m
	}
	res, body := get(t, base+"/info.php/extra/path?q=1&r=%2F", map[string]string{
		"X-Forwarded-For": "6.6.6.6", "Proxy": "http://evil", "Connection": "X-Hop", "X-Hop": "1"})
	m := info(res, body)
	for k, want := range map[string]any{
		"SCRIPT_NAME": "/info.php", "SCRIPT_FILENAME": root + "/info.php", "PATH_INFO": "/extra/path",
		"DOCUMENT_ROOT": root, "DOCUMENT_URI": "/info.php/extra/path", "REQUEST_URI": "/info.php/extra/path?q=1&r=%2F",
		"QUERY_STRING": "q=1&r=%2F", "REQUEST_METHOD": "GET", "REMOTE_ADDR": "127.0.0.1",
		"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_PROXY": nil, "HTTP_X_HOP": nil, "GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE": "gatehouse",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if len(res.Header["Set-Cookie"]) != 2 {
		t.Errorf("Set-Cookie: %q", res.Header["Set-Cookie"])
	}
	if strings.Contains(string(body), "hello on stderr") {
		t.Error("the script's error output reached the response")
	}
	g.waitLog("php says hello on stderr")

	if res, body := get(t, base+"/dir/", nil); res.StatusCode != 200 || string(body) != "index of dir" {
		t.Errorf("directory index: %d %q", res.StatusCode, body)
	}

	res, err := http.PostForm(base+"/info.php", url.Values{"x": {"y"}, "z": {"1 2"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if m := info(res, body); fmt.Sprint(m["post"]) != "map[x:y z:1 2]" || m["CONTENT_TYPE"] != "application/x-www-form-urlencoded" {
		t.Errorf("form POST: %v %v", m["post"], m["CONTENT_TYPE"])
	}

	file := make([]byte, 3<<20)
	_, _ = rand.Read(file)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("upload", "data.bin")
	_, _ = fw.Write(file)
	_ = mw.WriteField("note", "hi")
	mw.Close()
	res, err = http.Post(base+"/info.php", mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	sum := sha256.Sum256(file)
	if m := info(res, body); !strings.Contains(fmt.Sprint(m["files"]), hex.EncodeToString(sum[:])) || fmt.Sprint(m["post"]) != "map[note:hi]" {
		t.Errorf("upload: files %v post %v", m["files"], m["post"])
	}

	for path, want := range map[string]string{
		"/missing.php":                    "404 File not found.",
		"/gone.php":                       "410 gone",
		"/uploads/evil.jpg/x.php":         "403 Access denied.", // php-fpm's limit_extensions
		"/%2e%2e/%2e%2e/etc/passwd/x.php": "404 File not found.",
		"/info%00.php":                    "400",
	} {
		res, body := rawGet(t, base+path, nil)
		got := fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(body)))
		if !strings.HasPrefix(got, want) || strings.Contains(got, "PWNED") {
			t.Errorf("GET %s: %.100q, want %q", path, got, want)
		}
	}
	if res, _ := rawGet(t, base+"/gone.php", nil); res.Header.Get("X-Why") != "removed" {
		t.Errorf("the script's header is missing: %v", res.Header)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = client.Get(base + "/redirect.php")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 302 || res.Header.Get("Location") != "/info.php" {
		t.Errorf("redirect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	req, _ := http.NewRequest("HEAD", base+"/info.php", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("HEAD: %v %v", res, err)
	}
	// Large responses, on connections of their own and on kept ones.
	for i := 0; i < 20; i++ {
		for _, prefix := range []string{"", "/kept"} {
			if res, body := get(t, base+prefix+"/big.php", nil); res.StatusCode != 200 || len(body) != 160*65536 || body[65536] != 'B' {
				t.Fatalf("large response %s %d: %d, %d bytes", prefix, i, res.StatusCode, len(body))
			}
		}
	}
	// Many more requests at once than php-fpm has workers (2): each waits
	// its turn, none is stuck behind an idle connection.
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := (&http.Client{Timeout: 20 * time.Second}).Get(base + "/dir/")
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "index of dir" {
				errs <- fmt.Sprintf("%d %q", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent request: %s", e)
	}
}
