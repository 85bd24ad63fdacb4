package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// clientScenarios are the clients that misbehave.
func clientScenarios(o options) []scenario {
	return []scenario{
		churnScenario(o.churn),
		keepAliveScenario(o.conns),
		halfCloseScenario(o.n),
		abandonedHandshakesScenario(o.n),
		h2FloodScenario("rapid reset", false, o.n), h2FloodScenario("rapid reset", true, o.n),
		h2FloodScenario("CONTINUATION flood", false, o.n), h2FloodScenario("CONTINUATION flood", true, o.n),
	}
}

// raiseFileLimit lets this process (and Gatehouse, which inherits it)
// open n files when it may (as root), else as many as the hard limit.
func raiseFileLimit(n int) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if uint64(n) > lim.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}) == nil {
		return
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// fileLimit is this process's open files limit.
func fileLimit() int {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}

// dial connects to addr from one of 64 loopback addresses (so that tens
// of thousands of connections do not run out of ports).
func dial(addr string, i int) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%64))}}
	return d.Dial("tcp", addr)
}

// onConn dials addr as client i and runs f on the connection (with a
// 10 s deadline), counting a failed dial in c.
func onConn(c *counter, addr string, i int, f func(conn net.Conn)) {
	conn, err := dial(addr, i)
	if err != nil {
		c.add("dial " + harness.Failure(err))
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	f(conn)
}

const helloRequest = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"

// readHello reads one response to helloRequest.
func readHello(br *bufio.Reader) string {
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return harness.Failure(err)
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || string(b) != "hello\n" {
		return "cut short"
	}
	return fmt.Sprint(res.StatusCode)
}

// churnScenario opens n connections one request long each, 64 at once.
func churnScenario(n int) scenario {
	return scenario{name: "clients: short connections", expect: []string{"200"}, run: func(e *env) outcomes {
		var c counter
		start := time.Now()
		parallel(n, 64, func(i int) {
			onConn(&c, e.addr, i, func(conn net.Conn) {
				if _, err := io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
					c.add(harness.Failure(err))
					return
				}
				c.add(readHello(bufio.NewReader(conn)))
			})
		})
		took := time.Since(start)
		return c.outcomes(fmt.Sprintf("%.0f connections/s", float64(n)/took.Seconds()))
	}}
}

// keepAliveScenario holds n keep-alive connections open at once (each
// after one request), then asks again on every one of them.
func keepAliveScenario(n int) scenario {
	return scenario{name: "clients: keep-alive connections held", expect: []string{"200 twice"}, run: func(e *env) outcomes {
		note := ""
		if most := (fileLimit() - 2000) / 2; n > most {
			n, note = most, fmt.Sprintf("(open files limit %d) ", fileLimit())
		}
		rss0, _ := e.Metric("process_resident_memory_bytes ")
		conns := make([]net.Conn, n)
		readers := make([]*bufio.Reader, n)
		first := make([]string, n)
		parallel(n, 200, func(i int) {
			conn, err := dial(e.addr, i)
			if err != nil {
				first[i] = "dial " + harness.Failure(err)
				return
			}
			conns[i], readers[i] = conn, bufio.NewReader(conn)
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(conn, helloRequest); err != nil {
				first[i] = harness.Failure(err)
				return
			}
			first[i] = readHello(readers[i])
		})
		time.Sleep(time.Second) // idle long enough to be parked
		rss1, _ := e.Metric("process_resident_memory_bytes ")
		var c counter
		parallel(n, 200, func(i int) {
			if first[i] != "200" {
				c.add("first " + first[i])
				return
			}
			conn := conns[i]
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(conn, helloRequest); err != nil {
				c.add("again " + harness.Failure(err))
				return
			}
			if got := readHello(readers[i]); got != "200" {
				c.add("again " + got)
				return
			}
			c.add("200 twice")
		})
		for _, conn := range conns {
			if conn != nil {
				_ = conn.Close()
			}
		}
		return c.outcomes(fmt.Sprintf("%sresident %+.0f MB with all open", note, (rss1[0]-rss0[0])/(1<<20)))
	}}
}

// halfCloseScenario: n clients send a request and shut their writing
// side (they must still get the answer), and n shut it having sent
// nothing (the connection must be closed).
func halfCloseScenario(n int) scenario {
	return scenario{name: "clients: half-closed sockets", expect: []string{"200", "closed"}, run: func(e *env) outcomes {
		var c counter
		parallel(2*n, 2*n, func(i int) {
			onConn(&c, e.addr, i, func(conn net.Conn) {
				ask := i%2 == 0
				if ask {
					_, _ = io.WriteString(conn, helloRequest)
				}
				_ = conn.(*net.TCPConn).CloseWrite()
				br := bufio.NewReader(conn)
				if ask {
					c.add(readHello(br))
					return
				}
				if b, err := io.ReadAll(br); err != nil || len(b) > 0 {
					c.add(fmt.Sprintf("%d bytes, %v", len(b), err))
					return
				}
				c.add("closed")
			})
		})
		return c.outcomes("")
	}}
}

// abandonedHandshakesScenario starts TLS handshakes and stops: n connect
// and say nothing, n send half a ClientHello, n send a whole one and never
// finish. Each must be closed by Gatehouse (client.header_timeout is 2 s).
func abandonedHandshakesScenario(n int) scenario {
	return scenario{name: "clients: TLS handshakes abandoned", expect: []string{"closed by server"}, run: func(e *env) outcomes {
		var c counter
		parallel(3*n, 3*n, func(i int) {
			onConn(&c, e.tlsAddr, i, func(conn net.Conn) {
				switch i % 3 {
				case 1: // half a ClientHello
					_ = tls.Client(&abandoning{Conn: conn, writes: 0}, e.tlsConf).Handshake()
				case 2: // a whole one, never the Finished
					_ = tls.Client(&abandoning{Conn: conn, writes: 1}, e.tlsConf).Handshake()
				}
				_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
				_, err := io.Copy(io.Discard, conn)
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					c.add("left open")
				default: // EOF, or a reset
					c.add("closed by server")
				}
			})
		})
		return c.outcomes("")
	}}
}

// abandoning passes a TLS client's first writes through, then half of
// the next and no more: the handshake stops there, the socket stays open.
type abandoning struct {
	net.Conn
	writes int // whole writes let through
	mu     sync.Mutex
}

var errAbandoned = errors.New("handshake abandoned")

func (a *abandoning) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.writes > 0 {
		a.writes--
		return a.Conn.Write(p)
	}
	if a.writes == 0 {
		a.writes--
		_, _ = a.Conn.Write(p[:len(p)/2])
	}
	return 0, errAbandoned
}

// Close leaves the socket open: the caller closes it.
func (a *abandoning) Close() error { return nil }
