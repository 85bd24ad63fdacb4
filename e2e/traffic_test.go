package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.2, ...), as a distinct client.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

func TestRateLimitStopsAFlooderAndServesOthers(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr, admin := freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: %s
sites:
  - listen: ["%s"]
    rate_limit: {rate: 20r/s, burst: 10}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, admin, addr, up), addr, admin)

	const seconds, floodRate = 3, 400 // 20 times the limit
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	flooder := clientFrom("127.0.0.2")
	stop := time.Now().Add(seconds * time.Second)
	tick := time.NewTicker(time.Second / floodRate)
	defer tick.Stop()
	// The polite client: 4 requests a second, each must pass, promptly.
	politeDone := make(chan []time.Duration)
	go func() {
		polite := clientFrom("127.0.0.3")
		var lat []time.Duration
		for time.Now().Before(stop) {
			start := time.Now()
			res, err := polite.Get("http://" + addr + "/whoami")
			if err != nil {
				t.Errorf("polite client: %v", err)
				break
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("polite client got %d", res.StatusCode)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(250 * time.Millisecond)
		}
		politeDone <- lat
	}()
	sem := make(chan struct{}, 32)
	for time.Now().Before(stop) {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := flooder.Get("http://" + addr + "/whoami")
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			switch res.StatusCode {
			case 200:
				accepted.Add(1)
			case 429:
				if res.Header.Get("Retry-After") == "" || res.Header.Get("RateLimit-Policy") != `"default";q=20;w=1` {
					t.Errorf("429 without Retry-After or RateLimit-Policy: %v", res.Header)
				}
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	lat := <-politeDone
	want := float64(20*seconds + 10)
	got := float64(accepted.Load())
	t.Logf("flooder: %d accepted, %d refused; polite: %d requests, latencies %v", accepted.Load(), refused.Load(), len(lat), lat)
	if got < want*0.9 || got > want*1.1 {
		t.Errorf("flooder got %v accepted, want %v ±10%%", got, want)
	}
	if refused.Load() < int64(floodRate*seconds/2) {
		t.Errorf("only %d refused", refused.Load())
	}
	_, body := get(t, "http://"+admin+"/metrics", nil)
	if m := string(body); !regexpMatch(`gatehouse_refused_total\{reason="rate",site="default"\} [1-9]`, m) {
		t.Errorf("metrics lack the refusals")
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func TestAccessListsAllowAndDeny(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	denyFile := filepath.Join(dir, "deny.txt")
	if err := os.WriteFile(denyFile, []byte("# bad actors\n127.0.0.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    access: {deny: [127.0.0.2], deny_file: %q}
    routes:
      - path: /
        respond: {body: open}
      - path: /office/
        access: {allow: [127.0.0.3, "::1"], deny: [all]}
        respond: {body: office}
      - path: /lab/
        access: {allow: [127.0.0.0/24], deny: [127.0.0.2, all]}
        respond: {body: lab}
      - path: /kiosk/
        access: {deny: [127.0.0.2], allow: [127.0.0.0/24]}
        respond: {body: kiosk}
`, addr, denyFile), addr)
	status := func(ip, path string) int {
		t.Helper()
		res, err := clientFrom(ip).Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		ip, path string
		want     int
	}{
		{"127.0.0.1", "/", 200}, {"127.0.0.2", "/", 403}, {"127.0.0.4", "/", 403},
		{"127.0.0.3", "/office/", 200}, {"127.0.0.1", "/office/", 403}, {"127.0.0.2", "/office/", 403},
		// The first entry that holds the address decides, in the order written.
		{"127.0.0.2", "/lab/", 200}, {"127.0.0.2", "/kiosk/", 403}, {"127.0.0.3", "/kiosk/", 200},
	} {
		if got := status(c.ip, c.path); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.ip, c.path, got, c.want)
		}
	}
	// The deny file is read again when it changes.
	if err := os.WriteFile(denyFile, []byte("127.0.0.4\n127.0.0.5/32\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status("127.0.0.5", "/") != 403 {
		if time.Now().After(deadline) {
			t.Fatal("the changed deny file was not applied")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
