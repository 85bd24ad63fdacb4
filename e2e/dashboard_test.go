package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// chromium runs headless Chromium on url with extra flags and returns
// what it printed.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run scripts/test.sh, which installs the test peers")
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,1100", "--virtual-time-budget=6000"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

// TestDashboardInChromium opens the dashboard in a real browser against
// the running binary after some traffic, and checks that the figures it
// draws are the real ones; the screenshot is kept in the test's temp
// directory.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 1)
	addr, admin := freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: %s
upstreams:
  app:
    servers: ["http://%s"]
sites:
  - listen: ["%s"]
    hosts: [shop.test]
    routes:
      - path: /api/
        proxy: {to: app}
      - path: /static/
        respond: {body: "static"}
      - path: /cached/
        cache: {}
        proxy: {to: app}
      - path: /guarded/
        waf: on
        respond: {body: "guarded"}
      - path: /limited/
        rate_limit: {rate: 1r/m}
        respond: {body: "limited"}
`, admin, up, addr), addr, admin)
	host := map[string]string{"Host": "shop.test"}
	for i := 0; i < 7; i++ {
		get(t, "http://"+addr+"/api/whoami", host)
	}
	for i := 0; i < 3; i++ {
		get(t, "http://"+addr+"/static/x", host)
	}
	get(t, "http://"+addr+"/api/code?c=503", host)
	for i := 0; i < 4; i++ { // one miss, three hits
		get(t, "http://"+addr+"/cached/cached", host)
	}
	get(t, "http://"+addr+"/guarded/x?q=fine", host)
	get(t, "http://"+addr+"/guarded/x?id=1%27%20OR%20%271%27=%271", host) // blocked
	// One passes, two are refused.
	for i := 0; i < 3; i++ {
		get(t, "http://"+addr+"/limited/", host)
	}

	dom := chromium(t, "http://"+admin+"/dashboard/", "--dump-dom")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`id="status-text">live<`),
		regexp.MustCompile(`id="total-requests"[^>]*data-value="20"`),
		regexp.MustCompile(`id="cache-hits"[^>]*>75.0 %<`),
		regexp.MustCompile(`id="cache-held"[^>]*>since start · 1 object · `),
		regexp.MustCompile(`id="waf-blocked"[^>]*>1<`),
		regexp.MustCompile(`id="waf-detail"[^>]*>since start · of 2 requests · 0 detected · 0 patches<`),
		regexp.MustCompile(`id="defence-refused"[^>]*>2<`),
		regexp.MustCompile(`id="defence-detail"[^>]*>since start · 2 rate · 0 bans<`),
		regexp.MustCompile(`data-route="/api/"[^>]*>.*?data-requests="8"`),
		regexp.MustCompile(`data-route="/static/"[^>]*>.*?data-requests="3"`),
		regexp.MustCompile(`data-site="shop.test"`),
		regexp.MustCompile(`data-server="` + regexp.QuoteMeta(up) + `"[^>]*>.*?class="badge up">up<`),
		regexp.MustCompile(`5xx 1`),
		regexp.MustCompile(`<td>` + regexp.QuoteMeta(addr) + `</td><td>http</td>`),
	} {
		if !want.MatchString(dom) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	chromium(t, "http://"+admin+"/dashboard/", "--screenshot="+shot)
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 10000 {
		t.Errorf("screenshot %s: %v (%s bytes)", shot, err, strconv.FormatInt(sizeOf(fi), 10))
	}
	t.Logf("screenshot: %s", shot)
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}
