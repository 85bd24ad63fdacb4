package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/certs"
	"github.com/gatehouse/gatehouse/internal/conngate"
	"github.com/gatehouse/gatehouse/internal/sockio"
)

// serveTLS runs an https listener: it accepts TCP connections, completes
// each TLS handshake in its own goroutine (bounded by the client header
// timeout) and hands the connection to the HTTP/2 server or to the
// HTTP/1.1 front end by the protocol agreed through ALPN.
func (l *listener) serveTLS(log *slog.Logger) error {
	var wg sync.WaitGroup
	for _, run := range []func() error{
		func() error { return l.srv.Serve(l.h1) },
		func() error { return l.h2.Serve(l.h2q) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Error("https server stopped", "addr", l.addr, "error", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.serveHTTP3(log)
	}()
	defer wg.Wait()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && l.relieve != nil && l.relieve() {
				backoff = 0
				continue
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Error("accept failed; retrying", "addr", l.addr, "error", err, "delay", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		pass, ok := l.gate.Accept(nc)
		if !ok {
			continue
		}
		go l.handshake(nc, pass, log)
	}
}

// handshake reads the PROXY header on a PROXY listener, completes the TLS
// handshake of nc and queues the connection for the server of its
// protocol. The connection holds pass until it is closed.
func (l *listener) handshake(nc net.Conn, pass conngate.Pass, log *slog.Logger) {
	var remote net.Addr
	if l.gate.Proxy() {
		var err error
		if remote, err = l.gate.ReadProxyHeader(nc, &pass); err != nil {
			pass.Release()
			_ = nc.Close()
			return
		}
	}
	nc = conngate.Wrap(sockio.Wrap(nc), pass, remote)
	tc := tls.Server(nc, l.tlsOuter)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.handshakeTimeout.Load()))
	err := tc.HandshakeContext(ctx)
	cancel()
	l.stats.Handshake(err == nil)
	if err != nil {
		log.Debug("TLS handshake failed", "addr", l.addr, "client", nc.RemoteAddr().String(), "error", err)
		_ = nc.Close()
		return
	}
	q := l.h1
	switch tc.ConnectionState().NegotiatedProtocol {
	case "h2":
		q = l.h2q
	case certs.ACMETLSProtocol:
		// A CA validating a TLS-ALPN-01 challenge: the handshake was
		// all it needed.
		_ = tc.Close()
		return
	}
	if !q.push(tc) {
		_ = tc.Close()
	}
}

// connQueue is a net.Listener fed with connections accepted (and
// handshaken) elsewhere.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server reading the queue; false when it is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.done:
		return false
	}
}

// Accept waits for the next queued connection.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close stops the queue; waiting pushes and Accepts return.
func (q *connQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}

// Addr is the address of the TCP listener behind the queue.
func (q *connQueue) Addr() net.Addr { return q.addr }
