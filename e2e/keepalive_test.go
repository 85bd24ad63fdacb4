package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestUpstreamClosingIdleConnectionsLosesNothing: Gunicorn's gthread
// workers close a keep-alive connection after 2 s idle. Bursts of
// concurrent requests at intervals around that time, through a route
// with the default keepalive_timeout and one that keeps connections far
// longer than Gunicorn does, must all be answered by the app: no request
// may fail because the upstream closed an idle connection.
func TestUpstreamClosingIdleConnectionsLosesNothing(t *testing.T) {
	t.Parallel()
	up := freeAddr(t)
	bin := gunicornCmd(t, up, 1, "gthread").Path
	cmd := gunicornCmd(t, up, 1, "gthread")
	cmd.Args = []string{bin, "--workers", "1", "--worker-class", "gthread", "--threads", "8", "--keep-alive", "2",
		"--bind", up, "--chdir", "testdata", "--env", "APP_NAME=gthread", "app:app"}
	runPeer(t, "gunicorn gthread", cmd, syscall.SIGTERM, up)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /long/
        proxy: {to: "http://%s", keepalive_timeout: 30s}
      - path: /
        proxy: {to: "http://%s"}
`, addr, up, up), addr)

	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	failures := []string{}
	total := 0
	for round, pause := range []time.Duration{1200, 1800, 2000, 2300, 1900, 2100, 2500, 1400} {
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/whoami"
				if i%2 == 1 {
					path = "/long/whoami"
				}
				var res *http.Response
				var err error
				if i%4 < 2 {
					res, err = client.Get("http://" + addr + path)
				} else {
					res, err = client.Post("http://"+addr+path, "text/plain", strings.NewReader("payload"))
				}
				mu.Lock()
				defer mu.Unlock()
				total++
				if err != nil {
					failures = append(failures, fmt.Sprintf("round %d %s: %v", round, path, err))
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(body) != "gthread" {
					failures = append(failures, fmt.Sprintf("round %d %s: %d %q", round, path, res.StatusCode, body))
				}
			}()
		}
		wg.Wait()
		time.Sleep(pause * time.Millisecond)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed:\n%s", len(failures), total, strings.Join(failures, "\n"))
	}
}

// TestHostileUpstreamCannotDesyncResponses: an upstream that sends more
// than its Content-Length (a second, forged response behind the first)
// must never have those bytes read as another request's answer.
func TestHostileUpstreamCannotDesyncResponses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					mine := req.URL.Path
					switch {
					case strings.HasPrefix(mine, "/evil"):
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged", len(mine), mine)
					case strings.HasPrefix(mine, "/head"):
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nforged")
						return
					default:
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(mine), mine)
					}
				}
			}()
		}
	}()
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, ln.Addr().String(), ""), addr)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := []string{}
	for i := 0; i < 40; i++ {
		for _, kind := range []string{"evil", "fine", "head"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := fmt.Sprintf("/%s/%d", kind, i)
				method := "GET"
				if kind == "head" {
					method = "HEAD"
				}
				req, _ := http.NewRequest(method, "http://"+addr+path, nil)
				res, err := client.Do(req)
				if err != nil {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("%s: %v", path, err))
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				want := path
				if kind == "head" {
					want = ""
				}
				if res.StatusCode != 200 || string(body) != want {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("%s %s: got %d %q", method, path, res.StatusCode, body))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d of 120 requests got what was not theirs:\n%s", len(wrong), strings.Join(wrong, "\n"))
	}
}
