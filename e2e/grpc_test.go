package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec carries gRPC messages as the bytes they are, so the test
// service needs no generated code. Calls name it as their content
// subtype (application/grpc+raw); the health service keeps protobuf.
type rawCodec struct{}

func init() { encoding.RegisterCodec(rawCodec{}) }

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

// echoService is a gRPC service with every kind of call.
var echoService = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		switch string(in) {
		case "fail":
			return nil, status.Error(codes.NotFound, "no such thing: é")
		case "slow":
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(5 * time.Second):
			}
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-echo", "header"))
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trail", "trailer"))
		out := append([]byte("echo:"), in...)
		return &out, nil
	}}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			var in []byte
			if err := s.RecvMsg(&in); err != nil {
				return err
			}
			for i := 0; i < 5; i++ {
				out := []byte(fmt.Sprintf("%s %d", in, i))
				if err := s.SendMsg(&out); err != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			total := 0
			for {
				var in []byte
				err := s.RecvMsg(&in)
				if err == io.EOF {
					out := []byte(fmt.Sprint(total))
					return s.SendMsg(&out)
				}
				if err != nil {
					return err
				}
				total += len(in)
			}
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			for {
				var in []byte
				err := s.RecvMsg(&in)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				out := bytes.ToUpper(in)
				if err := s.SendMsg(&out); err != nil {
					return err
				}
			}
		}},
	},
}

// startGRPC serves echoService and the standard health service on a new
// loopback port, over TLS with certificate cert and key when given.
func startGRPC(t *testing.T, certKey ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20), grpc.MaxSendMsgSize(16 << 20)}
	if len(certKey) == 2 {
		cert, err := tls.LoadX509KeyPair(certKey[0], certKey[1])
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoService, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// TestGRPC proxies gRPC calls of every kind from HTTP/2 clients on an
// https listener and on a plain (h2c) one: unary with metadata both ways,
// server, client and bidirectional streams, an error status with its
// message intact, a 4 MB message, the caller's deadline, and a backend
// that is down (status UNAVAILABLE in trailers, not an HTML page).
func TestGRPC(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert, key := ca.issue("grpc.test")
	backend := startGRPC(t)
	bcert, bkey := ca.issue("backend.internal")
	tlsBackend := startGRPC(t, bcert, bkey)
	down := freeAddr(t)
	httpsAddr, h2cAddr, viaTLS := freeAddr(t), freeAddr(t), freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
client: {rate_grace: 1s}
upstreams:
  echo:
    servers: ["grpc://%s"]
    health: {active: {interval: 1s}}
sites:
  - listen: ["https://%s", "http://%s"]
    https_redirect: false
    tls: {cert: %s, key: %s}
    routes:
      - path: /test.Echo/
        proxy: {to: echo}
      - path: /
        proxy: {to: "grpc://%s", connect_timeout: 1s}
  - listen: ["http://%s"]
    routes:
      - path: /
        proxy: {to: "grpcs://%s", tls: {ca: "%s", server_name: backend.internal}}
`, backend, httpsAddr, h2cAddr, cert, key, down, viaTLS, tlsBackend, ca.File), httpsAddr, h2cAddr, viaTLS)

	opts := []grpc.CallOption{grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(16 << 20), grpc.MaxCallSendMsgSize(16 << 20)}
	for name, creds := range map[string]credentials.TransportCredentials{
		"https": credentials.NewTLS(&tls.Config{RootCAs: ca.Pool, ServerName: "grpc.test"}),
		"h2c":   insecure.NewCredentials(),
	} {
		t.Run(name, func(t *testing.T) {
			target := httpsAddr
			if name == "h2c" {
				target = h2cAddr
			}
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// Unary, metadata both ways.
			in, out := []byte("hi"), []byte(nil)
			var hdr, trl metadata.MD
			if err := conn.Invoke(ctx, "/test.Echo/Unary", &in, &out, append(opts, grpc.Header(&hdr), grpc.Trailer(&trl))...); err != nil {
				t.Fatalf("unary: %v", err)
			}
			if string(out) != "echo:hi" || hdr.Get("x-echo")[0] != "header" || len(trl.Get("x-trail")) == 0 {
				t.Errorf("unary: %q header %v trailer %v", out, hdr, trl)
			}

			// An error status and message come through intact.
			in = []byte("fail")
			err = conn.Invoke(ctx, "/test.Echo/Unary", &in, &out, opts...)
			if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing: é" {
				t.Errorf("error status: %v", err)
			}

			// A 4 MB message each way.
			big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
			if err := conn.Invoke(ctx, "/test.Echo/Unary", &big, &out, opts...); err != nil || len(out) != len(big)+5 {
				t.Errorf("4 MB message: %d bytes back, %v", len(out), err)
			}

			// The caller's deadline reaches the call.
			short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
			in = []byte("slow")
			err = conn.Invoke(short, "/test.Echo/Unary", &in, &out, opts...)
			cancelShort()
			if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded {
				t.Errorf("deadline: %v", err)
			}

			// Server stream.
			s, err := conn.NewStream(ctx, &echoService.Streams[0], "/test.Echo/ServerStream", opts...)
			if err != nil {
				t.Fatal(err)
			}
			in = []byte("tick")
			_ = s.SendMsg(&in)
			_ = s.CloseSend()
			var got []string
			for {
				var m []byte
				if err := s.RecvMsg(&m); err != nil {
					if err != io.EOF {
						t.Errorf("server stream: %v", err)
					}
					break
				}
				got = append(got, string(m))
			}
			if strings.Join(got, ",") != "tick 0,tick 1,tick 2,tick 3,tick 4" {
				t.Errorf("server stream: %q", got)
			}

			// Client stream.
			s, err = conn.NewStream(ctx, &echoService.Streams[1], "/test.Echo/ClientStream", opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				m := bytes.Repeat([]byte("x"), 1000)
				if err := s.SendMsg(&m); err != nil {
					t.Fatal(err)
				}
			}
			_ = s.CloseSend()
			var sum []byte
			if err := s.RecvMsg(&sum); err != nil || string(sum) != "10000" {
				t.Errorf("client stream: %q %v", sum, err)
			}

			// Bidirectional: each message answered before the next is
			// sent, so nothing may wait for the whole stream.
			s, err = conn.NewStream(ctx, &echoService.Streams[2], "/test.Echo/Bidi", opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, word := range []string{"alpha", "beta", "gamma"} {
				m := []byte(word)
				if err := s.SendMsg(&m); err != nil {
					t.Fatal(err)
				}
				var back []byte
				if err := s.RecvMsg(&back); err != nil || string(back) != strings.ToUpper(word) {
					t.Fatalf("bidi %s: %q %v", word, back, err)
				}
			}
			_ = s.CloseSend()
			var end []byte
			if err := s.RecvMsg(&end); err != io.EOF {
				t.Errorf("bidi end: %v", err)
			}

			// A backend that is down: UNAVAILABLE, as gRPC.
			start := time.Now()
			in = []byte("hi")
			err = conn.Invoke(ctx, "/other.Service/Call", &in, &out, opts...)
			if st, _ := status.FromError(err); st.Code() != codes.Unavailable || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("backend down: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("backend down answered after %v", d)
			}
		})
	}
	// A backend over TLS (grpcs://), verified against its CA.
	viaConn, err := grpc.NewClient(viaTLS, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer viaConn.Close()
	in, out := []byte("secure"), []byte(nil)
	if err := viaConn.Invoke(context.Background(), "/test.Echo/Unary", &in, &out, opts...); err != nil || string(out) != "echo:secure" {
		t.Errorf("grpcs backend: %q %v", out, err)
	}
	in = []byte("fail")
	if st, _ := status.FromError(viaConn.Invoke(context.Background(), "/test.Echo/Unary", &in, &out, opts...)); st.Code() != codes.NotFound {
		t.Errorf("grpcs backend error status: %v", st)
	}

	// A stream that idles far past the rate grace lives on: a call is no
	// upload, and its pace is the application's.
	conn, err := grpc.NewClient(h2cAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	idle, err := conn.NewStream(context.Background(), &echoService.Streams[2], "/test.Echo/Bidi", opts...)
	if err != nil {
		t.Fatal(err)
	}
	ping := func(word string) {
		t.Helper()
		m := []byte(word)
		if err := idle.SendMsg(&m); err != nil {
			t.Fatalf("idle stream send: %v", err)
		}
		var back []byte
		if err := idle.RecvMsg(&back); err != nil || string(back) != strings.ToUpper(word) {
			t.Fatalf("idle stream: %q %v", back, err)
		}
	}
	ping("before")
	// The pool's active checks speak the gRPC health protocol: the
	// server stays up through several rounds of them.
	time.Sleep(2500 * time.Millisecond)
	ping("after")
	if strings.Contains(g.stderr.String(), "health checks fail") {
		t.Errorf("the gRPC health checks failed:\n%s", g.stderr.String())
	}
}
