package h2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// startServer serves h over h2c on a local port and returns a client for
// it and the server.
func startServer(t *testing.T, h http.Handler, opts Options) (*http.Client, string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.HeaderTimeout == 0 {
		opts.HeaderTimeout = 5 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	srv := New(h, opts)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, "http://" + ln.Addr().String(), srv
}

func TestServesRequests(t *testing.T) {
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Cookie", r.Header.Get("Cookie"))
		w.Header().Set("X-Length", fmt.Sprint(r.ContentLength))
		_, _ = w.Write(body)
	}), Options{})

	res, err := client.Get(base + "/a?b=c")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Proto") != "HTTP/2.0" || res.Header.Get("Date") == "" || res.ContentLength != 0 {
		t.Fatalf("got %d %v", res.StatusCode, res.Header)
	}

	// A body larger than every window, in both directions.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MB
	req, _ := http.NewRequest(http.MethodPost, base+"/upload", bytes.NewReader(big))
	req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	if res.Header.Get("X-Length") != fmt.Sprint(len(big)) || res.Header.Get("X-Cookie") != "a=1; b=2" {
		t.Fatalf("request seen as %v", res.Header)
	}
}

func TestManyConcurrentStreams(t *testing.T) {
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat(r.URL.Path, 1000))
	}), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/%d", i)
			res, err := client.Get(base + path)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if err != nil || string(b) != strings.Repeat(path, 1000) {
				errs <- fmt.Errorf("%s: %d bytes, %v", path, len(b), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTrailersBothWays(t *testing.T) {
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Echo", r.Trailer.Get("X-Client"))
	}), Options{})
	req, _ := http.NewRequest(http.MethodPost, base+"/", io.MultiReader(strings.NewReader("x")))
	req.Trailer = http.Header{"X-Client": nil}
	req.ContentLength = -1
	pr, pw := io.Pipe()
	req.Body = pr
	go func() {
		_, _ = pw.Write([]byte("hello"))
		req.Trailer.Set("X-Client", "t1")
		_ = pw.Close()
	}()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("X-Echo") != "t1" {
		t.Fatalf("got %q, trailers %v", b, res.Trailer)
	}
}

func TestHeadAndNoBodyStatuses(t *testing.T) {
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(204)
			return
		}
		_, _ = io.WriteString(w, "<html>hello</html>")
	}), Options{})
	res, err := client.Head(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.ContentLength != 18 {
		t.Fatalf("HEAD: %d %v", res.ContentLength, res.Header)
	}
	res, err = client.Get(base + "/204")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Content-Length") != "" {
		t.Fatalf("204: %v", res.Header)
	}
}

func TestPanicAnswers500(t *testing.T) {
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			_, _ = io.WriteString(w, strings.Repeat("x", 8<<10))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}), Options{})
	res, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 500 {
		t.Fatalf("got %d", res.StatusCode)
	}
	res, err = client.Get(base + "/abort")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		_ = res.Body.Close()
	}
	if err == nil {
		t.Fatal("an aborted response read as whole")
	}
}

func TestClientResetCancelsTheHandler(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{})
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(canceled)
	}), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	go func() {
		<-started
		cancel()
	}()
	if _, err := client.Do(req); err == nil {
		t.Fatal("canceled request succeeded")
	}
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not canceled")
	}
}

func TestShutdownFinishesStreamsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	client, base, srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	}), Options{})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		res, err := client.Get(base + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		got <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if srv.OpenConns() != 0 {
		t.Fatal("connections left open")
	}
}

// rawConn opens a connection and completes the preface exchange with a
// framer, for tests that look at frames.
func rawConn(t *testing.T, addr string) (*http2.Framer, net.Conn, []http2.Setting) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, clientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nc, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v", f)
	}
	var settings []http2.Setting
	_ = sf.ForeachSetting(func(s http2.Setting) error { settings = append(settings, s); return nil })
	return fr, nc, settings
}

func hasSetting(settings []http2.Setting, id http2.SettingID) bool {
	for _, s := range settings {
		if s.ID == id {
			return true
		}
	}
	return false
}

func TestExtendedConnectIsAnnouncedOnlyWhenOn(t *testing.T) {
	for _, on := range []bool{false, true} {
		_, base, _ := startServer(t, http.NotFoundHandler(), Options{ExtendedConnect: on})
		_, _, settings := rawConn(t, base)
		if hasSetting(settings, http2.SettingEnableConnectProtocol) != on {
			t.Errorf("extended CONNECT on=%v, settings %v", on, settings)
		}
	}
}

func TestHeaderListTooLongGets431(t *testing.T) {
	client, base, _ := startServer(t, http.NotFoundHandler(), Options{MaxHeaderSize: 1024})
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 4000))
	res, err := client.Do(req)
	if err != nil {
		// Go's client refuses itself to send what the SETTINGS forbid.
		if !strings.Contains(err.Error(), "header list") {
			t.Fatal(err)
		}
		return
	}
	_ = res.Body.Close()
	if res.StatusCode != 431 {
		t.Fatalf("got %d", res.StatusCode)
	}
}

func TestPingFloodIsCutOff(t *testing.T) {
	_, base, _ := startServer(t, http.NotFoundHandler(), Options{})
	fr, nc, _ := rawConn(t, base)
	// Pings in batches of a thousand, never reading: the acknowledgements
	// fill the socket buffers, then the server's output buffer, until
	// the server gives up.
	var batch bytes.Buffer
	bf := http2.NewFramer(&batch, nil)
	for i := range 1000 {
		_ = bf.WritePing(false, [8]byte{byte(i)})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := nc.Write(batch.Bytes()); err != nil {
				return // cut off (or, failing the test, the deadline)
			}
		}
	}()
	<-done
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the flood went on unanswered")
		}
		if err != nil {
			return // closed
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v", ga.ErrCode)
			}
			return
		}
	}
}

func TestMalformedRequestsAreReset(t *testing.T) {
	_, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), Options{})
	cases := map[string][]hpack.HeaderField{
		"connection header": {{Name: "connection", Value: "close"}},
		"te not trailers":   {{Name: "te", Value: "gzip"}},
		"host differs":      {{Name: "host", Value: "other.example"}},
		"bad length":        {{Name: "content-length", Value: "+5"}},
		"host with a path":  {{Name: "host", Value: "a.example/x"}},
	}
	for name, extra := range cases {
		fr, _, _ := rawConn(t, base)
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, hf := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "a.example"}, {Name: ":path", Value: "/"}}, extra...) {
			_ = enc.WriteField(hf)
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if rst, ok := f.(*http2.RSTStreamFrame); ok {
				if rst.ErrCode != http2.ErrCodeProtocol {
					t.Errorf("%s: reset with %v", name, rst.ErrCode)
				}
				break
			}
			if _, ok := f.(*http2.MetaHeadersFrame); ok {
				t.Errorf("%s: answered", name)
				break
			}
		}
	}
}

func TestReadDeadlineEndsABodyWait(t *testing.T) {
	got := make(chan error, 1)
	client, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := io.ReadAll(r.Body)
		got <- err
		w.WriteHeader(408)
	}), Options{})
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/", pr)
	go func() { _, _ = pw.Write([]byte("a")) }()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if err := <-got; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read ended with %v", err)
	}
}

// requestBlock is the HPACK block of a GET of path.
func requestBlock(path string, extra ...hpack.HeaderField) []byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, hf := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "a.example"}, {Name: ":path", Value: path}}, extra...) {
		_ = enc.WriteField(hf)
	}
	return hb.Bytes()
}

// expectGoAway reads frames until a GOAWAY, which must carry code, or
// the connection's end.
func expectGoAway(t *testing.T, fr *http2.Framer, code http2.ErrCode) {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("no GOAWAY")
		}
		if err != nil {
			t.Fatalf("connection ended without a GOAWAY: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != code {
				t.Fatalf("GOAWAY %v, want %v", ga.ErrCode, code)
			}
			return
		}
	}
}

func TestRapidResetIsCutOff(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a handler that does not notice the reset
	}), Options{MaxConcurrentStreams: 10})
	fr, _, _ := rawConn(t, base)
	go func() {
		for id := uint32(1); id < 2000; id += 2 {
			if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: requestBlock("/"), EndStream: true, EndHeaders: true}) != nil ||
				fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	expectGoAway(t, fr, http2.ErrCodeEnhanceYourCalm)
}

func TestContinuationFloodIsCutOff(t *testing.T) {
	_, base, _ := startServer(t, http.NotFoundHandler(), Options{MaxHeaderSize: 4096})
	fr, _, _ := rawConn(t, base)
	go func() {
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/"), EndStream: true}) != nil {
			return
		}
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for i := 0; i < 100000; i++ {
			hb.Reset()
			_ = enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 100)})
			if fr.WriteContinuation(1, false, hb.Bytes()) != nil {
				return
			}
		}
	}()
	expectGoAway(t, fr, http2.ErrCodeProtocol)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAClosedWindowTimesOut(t *testing.T) {
	ended := make(chan error, 1)
	_, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(bytes.Repeat([]byte("x"), 64<<10))
		ended <- err
	}), Options{SendTimeout: 200 * time.Millisecond})
	fr, _, _ := rawConn(t, base)
	// A window of nothing, never opened.
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still waiting for the window")
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			if rst.ErrCode != http2.ErrCodeCancel {
				t.Fatalf("reset with %v", rst.ErrCode)
			}
			return
		}
	}
}

// replayed is a connection handed over with bytes already read from it,
// as the HTTP/1.1 front end hands over h2c connections.
type replayed struct {
	net.Conn
	pending []byte
}

func (r *replayed) NetConn() net.Conn { return r.Conn }
func (r *replayed) Buffered() int     { return len(r.pending) }
func (r *replayed) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

func TestHandedOverConnectionsParkOnceReplayed(t *testing.T) {
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		Options{HeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second})
	if srv.idle == nil {
		t.Skip("no idle set on this platform")
	}
	t.Cleanup(func() { _ = srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(nc, head); err != nil {
				_ = nc.Close()
				continue
			}
			go srv.ServeConn(&replayed{Conn: nc, pending: head})
		}
	}()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := range 2 {
		res, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("got %q", b)
		}
		waitFor(t, fmt.Sprintf("parked after request %d", i+1), func() bool { return srv.idle.Len() == 1 })
	}
}

func TestConnectionCloseOfAResetStreamKeepsTheConnection(t *testing.T) {
	answered := make(chan struct{})
	_, base, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.Header().Set("Connection", "close") // as a refused body's answer does
		w.WriteHeader(400)
		close(answered)
	}), Options{})
	fr, _, _ := rawConn(t, base)
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/"), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	<-answered
	time.Sleep(50 * time.Millisecond)
	if err := fr.WritePing(false, [8]byte{7}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			t.Fatal("GOAWAY for the answer of a stream the client reset")
		case *http2.PingFrame:
			if f.IsAck() {
				return
			}
		}
	}
}
