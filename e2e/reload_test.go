package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func reloadConfig(admin, addr, upstream, extraRoutes string) string {
	return fmt.Sprintf(`admin: "%s"
shutdown_timeout: 20s
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s"}
%s`, admin, addr, upstream, extraRoutes)
}

// slowGet starts a GET in the background and returns a channel with its
// outcome.
func slowGet(url string) <-chan string {
	done := make(chan string, 1)
	go func() {
		res, err := http.Get(url)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- fmt.Sprintf("%d %s", res.StatusCode, body)
	}()
	return done
}

func TestReloadKeepsInFlightRequestsAndAppliesNewConfig(t *testing.T) {
	up := startGunicorn(t, 2)
	admin, addr := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, reloadConfig(admin, addr, up, ""), addr, admin)

	// A keep-alive client connection opened before the reload keeps working after it.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	if res, err := client.Get("http://" + addr + "/warm"); err != nil || res.StatusCode != 200 {
		t.Fatalf("warm-up: %v %v", res, err)
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}

	inflight := slowGet("http://" + addr + "/slow?s=2")
	time.Sleep(500 * time.Millisecond) // let the request reach gunicorn

	g.writeConfig(reloadConfig(admin, addr, up, `      - path: /new
        respond: {body: "new config"}
`))
	out, code := g.reload()
	if code != 0 || !strings.Contains(out, "config reloaded") {
		t.Fatalf("gatehouse reload: exit %d: %s", code, out)
	}
	res, body := get(t, "http://"+addr+"/new", nil)
	if res.StatusCode != 200 || string(body) != "new config" {
		t.Errorf("after reload /new: %d %q", res.StatusCode, body)
	}
	if got := <-inflight; got != "200 slept" {
		t.Errorf("request in flight during reload: %s", got)
	}
	res, err := client.Get("http://" + addr + "/new")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("keep-alive connection after reload: %v %v", res, err)
	}
	res.Body.Close()
}

func TestBadReloadKeepsRunningConfig(t *testing.T) {
	up := startGunicorn(t, 1)
	admin, addr := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, reloadConfig(admin, addr, up, `      - path: /old
        respond: {body: "old config"}
`), addr, admin)

	g.writeConfig(reloadConfig(admin, addr, up, `      - path: /old
        respnd: {body: "typo"}
`))
	out, code := g.reload()
	if code == 0 {
		t.Fatalf("reload of a bad config exited 0: %s", out)
	}
	if !strings.Contains(out, "gatehouse.yaml:9:9: sites[0].routes[1].respnd: unknown key") || !strings.Contains(out, `did you mean "respond"`) {
		t.Errorf("reload output does not locate the problem:\n%s", out)
	}
	// SIGHUP with the same bad file: logged, old config kept.
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog("reload failed; the running config stays in place")
	res, body := get(t, "http://"+addr+"/old", nil)
	if res.StatusCode != 200 || string(body) != "old config" {
		t.Errorf("old config no longer served: %d %q", res.StatusCode, body)
	}
	// A config that parses but cannot be applied (port in use) is refused too.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	g.writeConfig(reloadConfig(admin, addr, up, "") + fmt.Sprintf(`  - listen: ["%s"]
    routes:
      - path: /
        respond: {body: "x"}
`, busy.Addr()))
	if out, code := g.reload(); code == 0 {
		t.Errorf("reload onto a busy port exited 0: %s", out)
	}
	if res, body := get(t, "http://"+addr+"/old", nil); res.StatusCode != 200 || string(body) != "old config" {
		t.Errorf("old config lost after failed apply: %d %q", res.StatusCode, body)
	}
}

func TestReloadOpensAndClosesListeners(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	cfg := func(addrs ...string) string {
		s := "admin: \"off\"\nsites:\n"
		for _, addr := range addrs {
			s += fmt.Sprintf("  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: \"on %s\"}\n", addr, addr)
		}
		return s
	}
	g := startGatehouse(t, cfg(a), a)
	g.writeConfig(cfg(a, b))
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	waitPort(t, b)
	if _, body := get(t, "http://"+b+"/", nil); string(body) != "on "+b {
		t.Errorf("new listener serves %q", body)
	}
	g.writeConfig(cfg(b))
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", a)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("removed listener %s still accepts", a)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, body := get(t, "http://"+b+"/", nil); string(body) != "on "+b {
		t.Errorf("kept listener serves %q", body)
	}
}

func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	g := startGatehouse(t, reloadConfig("off", addr, up, ""), addr)
	inflight := slowGet("http://" + addr + "/slow?s=1.5")
	time.Sleep(400 * time.Millisecond)
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	if got := <-inflight; got != "200 slept" {
		t.Errorf("request in flight at SIGTERM: %s", got)
	}
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("gatehouse did not exit after SIGTERM")
	}
	if code := g.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

func TestReloadThroughPidFile(t *testing.T) {
	addr := freeAddr(t)
	pid := t.TempDir() + "/gatehouse.pid"
	cfg := func(body string) string {
		return fmt.Sprintf("admin: \"off\"\npid_file: %s\nsites:\n  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: %q}\n", pid, addr, body)
	}
	g := startGatehouse(t, cfg("one"), addr)
	g.writeConfig(cfg("two"))
	if out, code := g.reload(); code != 0 || !strings.Contains(out, "reload signal sent") {
		t.Fatalf("reload via pid file: exit %d: %s", code, out)
	}
	g.waitLog("config reloaded")
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "two" {
		t.Errorf("after reload: %q", body)
	}
}

func TestReloadAppliesClientLimitsToKeptListener(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	cfg := func(maxHeader string) string {
		return fmt.Sprintf(`admin: "%s"
client: {max_header_size: %s, max_uri_length: 2KB}
sites:
  - listen: ["%s"]
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`, admin, maxHeader, addr)
	}
	g := startGatehouse(t, cfg("32KB"), addr, admin)
	big := "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + strings.Repeat("b", 8000) + "\r\n\r\n"
	if got, _ := exchange(t, addr, big, false); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("8 KB head under a 32KB limit: %q", firstLine(got))
	}
	g.writeConfig(cfg("4KB"))
	if out, code := g.reload(); code != 0 {
		t.Fatalf("reload: %d %s", code, out)
	}
	if got, _ := exchange(t, addr, big, false); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("8 KB head after lowering the limit to 4KB: %q", firstLine(got))
	}
}
