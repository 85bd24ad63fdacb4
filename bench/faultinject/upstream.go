package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// fault is one way the upstream misbehaves, served on /fault/NAME.
type fault struct {
	name   string
	expect []string // the answers a client may get
	serve  func(c net.Conn)
	// upload, when set, is the size of a POST body sent instead of a GET;
	// deaf sends the request to an upstream that never reads.
	upload int
	deaf   bool
}

// faults are served by the upstream after it has read the request.
var faults = []fault{
	{"reset mid-head", []string{"502"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		reset(c)
	}, 0, false},
	{"reset mid-body", []string{"502"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 100))
		reset(c)
	}, 0, false},
	{"garbage instead of a head", []string{"502"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HELLO THERE\r\n\r\n")
	}, 0, false},
	{"silent past the response timeout", []string{"504"}, func(net.Conn) {
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"body longer than its length", []string{"200"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more the length did not announce")
	}, 0, false},
	{"body shorter than its length", []string{"502"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	}, 0, false},
	{"chunked body that never ends", []string{"502", "504"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"never reads a 16 MB upload", []string{"502", "504"}, nil, 16 << 20, true},
	{"10,000 103s, no final answer", []string{"502", "504"}, func(c net.Conn) {
		w := bufio.NewWriter(c)
		for range 10000 {
			_, _ = w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
		}
		_ = w.Flush()
		time.Sleep(3 * time.Second)
	}, 0, false},
	{"a 1 MB header", []string{"502"}, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\nContent-Length: 2\r\n\r\nok")
	}, 0, false},
	{"10,000 Set-Cookie lines", []string{"200", "502"}, func(c net.Conn) {
		w := bufio.NewWriter(c)
		_, _ = w.WriteString("HTTP/1.1 200 OK\r\n")
		for i := range 10000 {
			_, _ = fmt.Fprintf(w, "Set-Cookie: c%d=v\r\n", i)
		}
		_, _ = w.WriteString("Content-Length: 2\r\n\r\nok")
		_ = w.Flush()
	}, 0, false},
}

// upstreamScenarios are the faults as rows: n requests each.
func upstreamScenarios(n int) []scenario {
	var out []scenario
	for i, f := range faults {
		out = append(out, scenario{name: "upstream: " + f.name, expect: f.expect, run: func(e *env) outcomes {
			var c counter
			parallel(n, n, func(int) {
				url := fmt.Sprintf("http://%s/fault/%d", e.addr, i)
				if f.deaf {
					url = "http://" + e.addr + "/deaf/"
				}
				c.add(send(e.client, url, f.upload))
			})
			return c.outcomes("")
		}})
	}
	return out
}

// reset closes c with a TCP reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// upstreams are the servers Gatehouse proxies to in a run.
type upstreams struct {
	main, deaf   net.Listener
	deafConns    chan net.Conn // held open, never read
	flapA, flapB *flapper
	// corrupt counts uploads whose body did not match their X-Sum.
	corrupt atomic.Int64
}

// startUpstreams starts the upstreams and records their addresses in e.
func startUpstreams(e *env) (*upstreams, error) {
	u := &upstreams{deafConns: make(chan net.Conn, 1024)}
	var err error
	if u.main, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	go u.serve(u.main)
	// The deaf upstream accepts and never reads.
	if u.deaf, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := u.deaf.Accept()
			if err != nil {
				return
			}
			select {
			case u.deafConns <- c:
			default:
				_ = c.Close()
			}
		}
	}()
	if u.flapA, err = newFlapper("a"); err != nil {
		return nil, err
	}
	if u.flapB, err = newFlapper("b"); err != nil {
		return nil, err
	}
	e.up, e.deaf, e.flapA, e.flapB = u.main.Addr(), u.deaf.Addr(), u.flapA.addr, u.flapB.addr
	return u, nil
}

func (u *upstreams) close() {
	_ = u.main.Close()
	_ = u.deaf.Close()
	u.flapA.down()
	u.flapB.down()
	for {
		select {
		case c := <-u.deafConns:
			_ = c.Close()
		default:
			return
		}
	}
}

// serve answers /ok, /fault/N (faults[N]), /upload (checks the body
// against X-Sum) and /download/N (N bytes of a known pattern).
func (u *upstreams) serve(ln net.Listener) {
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
				sum := sha256.New()
				_, err = io.Copy(sum, req.Body)
				if err != nil {
					return
				}
				switch path := req.URL.Path; {
				case strings.HasPrefix(path, "/fault/"):
					n, _ := strconv.Atoi(strings.TrimPrefix(path, "/fault/"))
					faults[n].serve(c)
					return
				case path == "/upload":
					if hex.EncodeToString(sum.Sum(nil)) != req.Header.Get("X-Sum") {
						u.corrupt.Add(1)
						_, _ = io.WriteString(c, "HTTP/1.1 500 Corrupt\r\nContent-Length: 0\r\n\r\n")
						continue
					}
				case strings.HasPrefix(path, "/download/"):
					n, _ := strconv.Atoi(strings.TrimPrefix(path, "/download/"))
					_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n)
					_, _ = io.Copy(c, io.LimitReader(&harness.Pattern{}, int64(n)))
					continue
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
			}
		}()
	}
}

// flapper is an upstream that can go down (its listener closed and its
// connections reset, as when it crashes) and come back on its address.
type flapper struct {
	name  string
	addr  net.Addr
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newFlapper(name string) (*flapper, error) {
	f := &flapper{name: name, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.addr, f.ln = ln.Addr(), ln
	go f.accept(ln)
	return f, nil
}

// up listens again (when down).
func (f *flapper) up() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		return nil
	}
	lc := net.ListenConfig{}
	ln, err := lc.Listen(context.Background(), "tcp", f.addr.String())
	if err != nil {
		return err
	}
	f.ln = ln
	go f.accept(ln)
	return nil
}

// down closes the listener and resets every connection.
func (f *flapper) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		_ = f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		reset(c)
	}
	clear(f.conns)
}

// accept serves ln's connections until it is closed.
func (f *flapper) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.ln != ln {
			f.mu.Unlock()
			reset(c)
			return
		}
		f.conns[c] = true
		f.mu.Unlock()
		go func() {
			defer func() {
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				_ = c.Close()
			}()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%s\n", f.name); err != nil {
					return
				}
			}
		}()
	}
}

// flappingScenario takes the pool's two servers down and up in turn for
// d: each is up 1.2 s then down 0.8 s, a second apart, so one of them is
// always up. A request that meets a server going down may get a clean 502
// (its retries spent), and one arriving while both are marked down a 503;
// none may get a broken answer or hang on a connection left in a bad state.
func flappingScenario(u *upstreams, d time.Duration) scenario {
	return scenario{name: "upstream: pool flapping every second", expect: []string{"200", "502", "503"}, run: func(e *env) outcomes {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var c counter
		flaps := atomic.Int64{}
		for i, f := range []*flapper{u.flapA, u.flapB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 1 {
					time.Sleep(time.Second)
				}
				for {
					select {
					case <-stop:
						_ = f.up()
						return
					case <-time.After(1200 * time.Millisecond):
					}
					f.down()
					flaps.Add(1)
					select {
					case <-stop:
						_ = f.up()
						return
					case <-time.After(800 * time.Millisecond):
					}
					if err := f.up(); err != nil {
						// Its port was taken meanwhile: the row cannot go on.
						c.add("server could not come back: " + err.Error())
						return
					}
				}
			}()
		}
		deadline := time.Now().Add(d)
		parallel(8, 8, func(int) {
			for time.Now().Before(deadline) {
				c.add(get(e.client, "http://"+e.addr+"/flap/"))
			}
		})
		close(stop)
		wg.Wait()
		return c.outcomes(fmt.Sprintf("%d servers taken down", flaps.Load()))
	}}
}
