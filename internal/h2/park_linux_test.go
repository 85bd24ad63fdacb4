//go:build linux

package h2

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/idlepark"
	"golang.org/x/sys/unix"
)

func TestIdleConnectionsParkAndWake(t *testing.T) {
	client, base, srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}), Options{})
	if srv.idle == nil {
		t.Skip("no idle set on this platform")
	}
	// Separate transports: one connection each.
	var clients []*http.Client
	for range 20 {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &protos}
		t.Cleanup(tr.CloseIdleConnections)
		clients = append(clients, &http.Client{Transport: tr})
	}
	_ = client
	get := func(c *http.Client, path string) {
		t.Helper()
		res, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if string(b) != path {
			t.Fatalf("got %q", b)
		}
	}
	for _, c := range clients {
		get(c, "/first")
	}
	waitFor(t, "20 connections parked", func() bool { return srv.idle.Len() == 20 })
	for _, c := range clients {
		get(c, "/again")
	}
	if srv.OpenConns() != 20 {
		t.Fatalf("%d connections, want the same 20", srv.OpenConns())
	}
	waitFor(t, "parked again", func() bool { return srv.idle.Len() == 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with parked connections: %v", err)
	}
	// A socket the set would take if it were still open.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if srv.idle.Park(idlepark.NewConn(fds[0], func() {}, func() {}), time.Time{}) {
		t.Fatal("the idle set outlives a graceful shutdown")
	}
}
