// Command faultinject runs the real Gatehouse binary in front of an
// upstream that misbehaves in one way per path (resets mid-head and
// mid-body, garbage, silence, wrong lengths, an endless chunked body,
// 1xx floods, huge heads) and prints, per fault, the answers clients got
// against the ones expected, whether ordinary requests sent meanwhile
// were unaffected, and the goroutines and file descriptors Gatehouse held
// before and after (read from its /metrics), so that leaks show. It exits
// 1 when an answer was unexpected or something leaked.
//
//	faultinject -gatehouse ./gatehouse [-n 20]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fault is one way the upstream misbehaves, served on /fault/NAME.
type fault struct {
	name   string
	expect []int // the answers a client may get
	serve  func(c net.Conn, br *bufio.Reader)
	// upload, when set, is the size of a POST body sent instead of a GET;
	// deaf sends the request to an upstream that never reads.
	upload int
	deaf   bool
}

// faults are served by the upstream; each reads the request head first.
var faults = []fault{
	{"reset mid-head", []int{502}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		reset(c)
	}, 0, false},
	{"reset mid-body", []int{502}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 100))
		reset(c)
	}, 0, false},
	{"garbage", []int{502}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HELLO THERE\r\n\r\n")
	}, 0, false},
	{"silent past the timeout", []int{504}, func(c net.Conn, _ *bufio.Reader) {
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"body longer than its length", []int{200}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more the length did not announce")
	}, 0, false},
	{"body shorter than its length", []int{502}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	}, 0, false},
	{"chunked body never ends", []int{502, 504}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"never reads a 16 MB upload", []int{502, 504}, nil, 16 << 20, true},
	{"1xx flood", []int{502, 504}, func(c net.Conn, _ *bufio.Reader) {
		w := bufio.NewWriter(c)
		for range 10000 {
			_, _ = w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
		}
		_ = w.Flush()
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"1 MB header", []int{502}, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\nContent-Length: 2\r\n\r\nok")
	}, 0, false},
	{"10,000 Set-Cookie lines", []int{200, 502}, func(c net.Conn, _ *bufio.Reader) {
		w := bufio.NewWriter(c)
		_, _ = w.WriteString("HTTP/1.1 200 OK\r\n")
		for i := range 10000 {
			_, _ = fmt.Fprintf(w, "Set-Cookie: c%d=v\r\n", i)
		}
		_, _ = w.WriteString("Content-Length: 2\r\n\r\nok")
		_ = w.Flush()
	}, 0, false},
}

// reset closes c with a TCP reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// upstream serves /ok properly (keep-alive) and /fault/N as faults[N].
func upstream(ln net.Listener) {
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
				if i, ok := strings.CutPrefix(req.URL.Path, "/fault/"); ok {
					n, _ := strconv.Atoi(i)
					faults[n].serve(c, br)
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
			}
		}()
	}
}

func main() {
	bin := flag.String("gatehouse", "./gatehouse", "the gatehouse binary")
	n := flag.Int("n", 20, "requests per fault")
	flag.Parse()
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "faultinject:", err)
		if errors.Is(err, errFailed) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func run(bin string, n int) error {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go upstream(upLn)
	// The deaf upstream accepts and never reads.
	deafLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	deaf := make(chan net.Conn, 1024) // held open, never read
	defer func() {
		for {
			select {
			case c := <-deaf:
				_ = c.Close()
			default:
				return
			}
		}
	}()
	go func() {
		for {
			c, err := deafLn.Accept()
			if err != nil {
				return
			}
			select {
			case deaf <- c:
			default:
				_ = c.Close()
			}
		}
	}()
	addr, metricsAddr := freeAddr(), freeAddr()
	dir, err := os.MkdirTemp("", "faultinject")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`admin: "off"
access_log: {output: "off"}
metrics: {listen: "%s"}
sites:
  - listen: ["%s"]
    routes:
      - path: /deaf/
        proxy:
          to: "http://%s"
          response_timeout: 1s
          idle_timeout: 1s
      - path: /
        proxy:
          to: "http://%s"
          response_timeout: 1s
          idle_timeout: 1s
`, metricsAddr, addr, deafLn.Addr(), upLn.Addr())), 0o644)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "gatehouse.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitPort(addr); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// Warm up: pools, buffers, the metrics page.
	for range 50 {
		get(client, "http://"+addr+"/ok")
	}
	_, _, _ = gauges(metricsAddr)

	fmt.Printf("%-30s %9s %-10s %-26s %11s %15s %11s\n", "fault", "requests", "expected", "got", "unexpected", "ordinary ok", "goroutines / fds")
	failed := false
	for i, f := range faults {
		time.Sleep(200 * time.Millisecond)
		g0, fd0, err := gauges(metricsAddr)
		if err != nil {
			return err
		}
		got := map[string]int{}
		unexpected, ordinary, ordinaryOK := 0, 0, 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				url := fmt.Sprintf("http://%s/fault/%d", addr, i)
				if f.deaf {
					url = "http://" + addr + "/deaf/"
				}
				code := send(client, url, f.upload)
				mu.Lock()
				defer mu.Unlock()
				got[code]++
				if !expected(code, f.expect) {
					unexpected++
				}
			}()
			go func() {
				defer wg.Done()
				code := get(client, "http://"+addr+"/ok")
				mu.Lock()
				defer mu.Unlock()
				ordinary++
				if code == "200" {
					ordinaryOK++
				}
			}()
		}
		wg.Wait()
		client.CloseIdleConnections()
		// What the fault left behind settles (timeouts, closes) first.
		var g1, fd1 float64
		for range 40 {
			time.Sleep(250 * time.Millisecond)
			if g1, fd1, err = gauges(metricsAddr); err != nil {
				return err
			}
			if g1 <= g0 && fd1 <= fd0 {
				break
			}
		}
		leak := g1 > g0 || fd1 > fd0
		if unexpected > 0 || ordinaryOK < ordinary || leak {
			failed = true
		}
		fmt.Printf("%-30s %9d %-10s %-26s %11d %9d of %-3d %4.0f→%-4.0f %3.0f→%-3.0f\n", f.name, n, codes(f.expect), summary(got), unexpected,
			ordinaryOK, ordinary, g0, g1, fd0, fd1)
	}
	if failed {
		fmt.Println("FAIL: an unexpected answer, an ordinary request affected, or goroutines/fds left behind")
		return errFailed
	}
	fmt.Println("PASS")
	return nil
}

// errFailed is a run that found a fault mishandled.
var errFailed = errors.New("a fault was mishandled")

// get returns the status code of a GET, or the kind of failure.
func get(client *http.Client, url string) string { return send(client, url, 0) }

// send GETs url, or POSTs upload bytes to it, and returns the status
// code or the kind of failure.
func send(client *http.Client, url string, upload int) string {
	var res *http.Response
	var err error
	if upload > 0 {
		res, err = client.Post(url, "application/octet-stream", io.LimitReader(zeros{}, int64(upload)))
	} else {
		res, err = client.Get(url)
	}
	if err != nil {
		if ctxErr := context.DeadlineExceeded; strings.Contains(err.Error(), ctxErr.Error()) || strings.Contains(err.Error(), "Timeout") {
			return "timeout"
		}
		return "error"
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil && res.StatusCode == 200 {
		return "200 cut short"
	}
	return strconv.Itoa(res.StatusCode)
}

func expected(code string, want []int) bool {
	for _, w := range want {
		if code == strconv.Itoa(w) {
			return true
		}
	}
	return false
}

func codes(cs []int) string {
	var s []string
	for _, c := range cs {
		s = append(s, strconv.Itoa(c))
	}
	return strings.Join(s, "/")
}

func summary(got map[string]int) string {
	var s []string
	for code, k := range got {
		s = append(s, fmt.Sprintf("%s×%d", code, k))
	}
	return strings.Join(s, " ")
}

// gauges reads go_goroutines and process_open_fds from /metrics.
func gauges(addr string) (goroutines, fds float64, err error) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			goroutines, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "process_open_fds "); ok {
			fds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return goroutines, fds, sc.Err()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitPort(addr string) error {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
