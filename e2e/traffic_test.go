package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
	if m := string(body); !regexpMatch(`gatehouse_ratelimit_refused_total\{site="default"\} [1-9]`, m) {
		t.Errorf("metrics lack the refusals")
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
