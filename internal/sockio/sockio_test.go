//go:build linux

package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestOpenOnlyPlainSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Open(a) != nil {
		t.Fatal("a pipe is not a socket")
	}
	c, _ := pair(t)
	if Open(c) == nil {
		t.Fatal("a TCP connection is")
	}
}

// A write larger than the socket buffers waits for room and completes;
// the reader sees every byte, then the end of stream.
func TestLargeWriteAndReadToEnd(t *testing.T) {
	c, s := pair(t)
	w, r := Open(c), Open(s)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MB
	done := make(chan error, 1)
	go func() {
		n, err := w.Write(data)
		if err == nil && n != len(data) {
			err = io.ErrShortWrite
		}
		c.(*net.TCPConn).CloseWrite()
		done <- err
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d identical", len(got), len(data))
	}
}

// Deadlines bound the waits, as on the connection itself.
func TestReadDeadline(t *testing.T) {
	_, s := pair(t)
	r := Open(s)
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := r.WaitReadable(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wait: %v, want a deadline error", err)
	}
}

// WaitReadable sees input that is already there and input that comes
// later, and consumes none of it.
func TestWaitReadable(t *testing.T) {
	c, s := pair(t)
	r := Open(s)
	c.Write([]byte("early"))
	time.Sleep(20 * time.Millisecond)
	if err := r.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "early" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("late"))
	}()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := r.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.Close()
	if err := r.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(buf); err != io.EOF {
		t.Fatalf("after close: %v, want EOF", err)
	}
}

// A read and a write may run at the same time on one socket.
func TestConcurrentReadAndWrite(t *testing.T) {
	c, s := pair(t)
	sc := Open(s)
	go io.Copy(c, c) // echo
	data := bytes.Repeat([]byte("x"), 1<<20)
	errc := make(chan error, 1)
	go func() {
		_, err := sc.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(sc, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo differs or write failed: %v", err)
	}
}

// A read on a closed connection fails rather than hangs.
func TestReadAfterClose(t *testing.T) {
	_, s := pair(t)
	r := Open(s)
	s.Close()
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a closed connection succeeded")
	}
}

// A wrapped connection reads and writes through its socket and keeps the
// rest of the connection's behavior.
func TestWrap(t *testing.T) {
	c, s := pair(t)
	w := Wrap(s)
	if _, ok := w.(*Conn); !ok {
		t.Fatalf("Wrap gave %T", w)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("a pipe must come back as it is")
	}
	go c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(w, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, err := w.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	if w.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatal("addresses differ")
	}
}
