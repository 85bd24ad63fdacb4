package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// clients are the HTTP clients of a run, one per protocol.
type clients struct {
	h1, h2, h3 *http.Client
	h3t        *http3.Transport
}

func newClients() *clients {
	conf := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	h3t := &http3.Transport{TLSClientConfig: conf}
	return &clients{
		h1:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		h2:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}},
		h3:  &http.Client{Timeout: 30 * time.Second, Transport: h3t},
		h3t: h3t,
	}
}

// closeIdle drops every idle connection of the clients.
func (c *clients) closeIdle() {
	c.h1.CloseIdleConnections()
	c.h2.CloseIdleConnections()
	c.h3t.CloseIdleConnections()
}

// job is one kind of traffic: do makes one exchange and names its
// outcome; want is the outcome that is right.
type job struct {
	name string
	want string
	do   func(r *run) string
}

// jobs are the traffic mix, each run by its own worker in a loop.
var jobs = []job{
	{"HTTP/1.1 proxy", "200", func(r *run) string { return status(r.c.h1, "GET", r.plain+"/api/items", nil, nil) }},
	{"HTTP/1.1 static", "200 whole", func(r *run) string { return fetchStatic(r.c.h1, r.plain) }},
	{"HTTP/1.1 upload 1 MB", "200", func(r *run) string { return upload(r.c.h1, r.plain, 1<<20) }},
	{"HTTP/1.1 download 4 MB", "200 whole", func(r *run) string { return download(r.c.h1, r.plain, 4<<20) }},
	{"HTTP/1.1 not found", "404", func(r *run) string { return status(r.c.h1, "GET", r.plain+"/missing", nil, nil) }},
	{"HTTP/1.1 upstream down", "502", func(r *run) string { return status(r.c.h1, "GET", r.plain+"/down/", nil, nil) }},
	{"HTTP/2 proxy", "200", func(r *run) string { return protoStatus(r.c.h2, r.tls+"/api/items", 2) }},
	{"HTTP/2 static", "200 whole", func(r *run) string { return fetchStatic(r.c.h2, r.tls) }},
	{"HTTP/2 upload 1 MB", "200", func(r *run) string { return upload(r.c.h2, r.tls, 1<<20) }},
	{"HTTP/3 proxy", "200", func(r *run) string { return protoStatus(r.c.h3, r.tls+"/api/items", 3) }},
	{"HTTP/3 download 1 MB", "200 whole", func(r *run) string { return download(r.c.h3, r.tls, 1<<20) }},
	{"WebSocket, 20 messages", "echoed", func(r *run) string { return webSocket(r.plainAddr) }},
}

// status makes a request and returns its status code (body read whole).
func status(c *http.Client, method, url string, body io.Reader, hdr http.Header) string {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return "bad request"
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return harness.Failure(err)
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil {
		return fmt.Sprintf("%d cut short", res.StatusCode)
	}
	return fmt.Sprint(res.StatusCode)
}

// protoStatus is status for a GET that must be answered over HTTP/major.
func protoStatus(c *http.Client, url string, major int) string {
	res, err := c.Get(url)
	if err != nil {
		return harness.Failure(err)
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	switch {
	case err != nil:
		return fmt.Sprintf("%d cut short", res.StatusCode)
	case res.ProtoMajor != major:
		return "over " + res.Proto
	}
	return fmt.Sprint(res.StatusCode)
}

// staticBody is the static file's content.
var staticBody = bytes.Repeat([]byte("static file line\n"), 16<<10)

func fetchStatic(c *http.Client, base string) string {
	res, err := c.Get(base + "/static/file.txt")
	if err != nil {
		return harness.Failure(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil || !bytes.Equal(got, staticBody) {
		return fmt.Sprintf("%d corrupt", res.StatusCode)
	}
	return fmt.Sprintf("%d whole", res.StatusCode)
}

func upload(c *http.Client, base string, size int) string {
	body := make([]byte, size)
	_, _ = rand.Read(body)
	sum := sha256.Sum256(body)
	return status(c, "POST", base+"/upload", bytes.NewReader(body), http.Header{"X-Sum": {hex.EncodeToString(sum[:])}})
}

func download(c *http.Client, base string, size int) string {
	res, err := c.Get(fmt.Sprintf("%s/download/%d", base, size))
	if err != nil {
		return harness.Failure(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	want, _ := io.ReadAll(io.LimitReader(&harness.Pattern{}, int64(size)))
	if err != nil || !bytes.Equal(got, want) {
		return fmt.Sprintf("%d corrupt", res.StatusCode)
	}
	return fmt.Sprintf("%d whole", res.StatusCode)
}

// webSocket opens a WebSocket through Gatehouse and sends 20 messages a
// quarter second apart (so sessions span reloads), each echoed.
func webSocket(addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return harness.Failure(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return harness.Failure(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != acceptKey("dGhlIHNhbXBsZSBub25jZQ==") {
		return fmt.Sprintf("handshake %d", res.StatusCode)
	}
	for i := range 20 {
		msg := []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*50)))
		if err := writeFrame(c, opText, msg, true); err != nil {
			return "write " + harness.Failure(err)
		}
		op, got, err := readFrame(br)
		if err != nil {
			return "read " + harness.Failure(err)
		}
		if op != opText || !bytes.Equal(got, msg) {
			return "wrong echo"
		}
		time.Sleep(250 * time.Millisecond)
	}
	_ = writeFrame(c, opClose, []byte{0x03, 0xe8}, true)
	if op, _, err := readFrame(br); err != nil || op != opClose {
		return "no close"
	}
	return "echoed"
}
