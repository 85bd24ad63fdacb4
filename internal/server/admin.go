package server

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/activation"

	"github.com/gatehouse/gatehouse/internal/cache"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/dashboard"
)

// startAdmin serves the admin API: POST /reload, GET /health, GET /status
// (pools and maintenance as JSON), POST /maintenance/on|off, GET /metrics
// (Prometheus), GET /stats (the dashboard's JSON) and the dashboard under
// /dashboard/. When the address was left at its default and is taken
// (another instance), the admin API is skipped with a warning.
func startAdmin(admin config.Admin, r *reloader, passed *activation.Sockets, log *slog.Logger) (*sideServer, error) {
	if admin.Off() {
		return nil, nil
	}
	addr := admin.Addr()
	ln, err := listenTCP(addr, passed)
	if err != nil {
		if admin.Listen == "" {
			log.Warn("admin API not started (set admin: to another address, or off)", "addr", addr, "error", err)
			return nil, nil
		}
		return nil, fmt.Errorf("admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = io.WriteString(w, "config reloaded\n")
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, r.in.Status())
	})
	mux.HandleFunc("POST /maintenance/{state}", func(w http.ResponseWriter, req *http.Request) {
		switch req.PathValue("state") {
		case "on":
			r.in.SetMaintenance(true)
		case "off":
			r.in.SetMaintenance(false)
		default:
			http.Error(w, "want /maintenance/on or /maintenance/off", http.StatusNotFound)
			return
		}
		log.Info("maintenance switched", "state", req.PathValue("state"))
		_, _ = io.WriteString(w, "maintenance "+req.PathValue("state")+"\n")
	})
	mux.Handle("GET /metrics", r.in.MetricsHandler())
	mux.HandleFunc("POST /cache/purge", func(w http.ResponseWriter, req *http.Request) {
		purgeCache(w, req, r.in, log)
	})
	handleWAF(mux, r.in, log)
	handleBans(mux, r.in, log)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, r.in.Metrics().Stats())
	})
	mux.Handle("GET /dashboard/", http.StripPrefix("/dashboard", dashboard.Handler()))
	mux.Handle("GET /{$}", http.RedirectHandler("/dashboard/", http.StatusFound))
	guard := adminGuard{next: mux, token: admin.Token, loopbackOnly: admin.Token == ""}
	log.Info("admin API listening", "addr", ln.Addr().String())
	return serveSide(ln, guard), nil
}

// startMetrics serves GET /metrics alone on addr (metrics.listen), for
// scrapers that must not reach the admin API.
func startMetrics(addr string, r *reloader, passed *activation.Sockets, log *slog.Logger) (*sideServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := listenTCP(addr, passed)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.in.MetricsHandler())
	log.Info("metrics listening", "addr", ln.Addr().String())
	return serveSide(ln, mux), nil
}

// sideServer is the admin API's or the metrics listener's server.
type sideServer struct {
	srv *http.Server
	ln  net.Listener
}

// serveSide serves h on ln.
func serveSide(ln net.Listener, h http.Handler) *sideServer {
	s := &sideServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() { _ = s.srv.Serve(ln) }()
	return s
}

// listener is the server's listener (nil: none).
func (s *sideServer) listener() net.Listener {
	if s == nil {
		return nil
	}
	return s.ln
}

// Close stops the server (nil: none).
func (s *sideServer) Close() {
	if s != nil {
		_ = s.srv.Close()
	}
}

// listenTCP listens on addr, on the socket passed for it if there is one.
func listenTCP(addr string, passed *activation.Sockets) (net.Listener, error) {
	if ln, ok := passed.Listener("tcp", addr); ok {
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// PurgeRequest is the body of POST /cache/purge: a URL, or a prefix of
// URLs, whose stored responses go.
type PurgeRequest struct {
	URL    string `json:"url,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// PurgeResponse answers POST /cache/purge: how many URLs had responses
// stored (all the variants of one URL count once).
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// purgeCache serves POST /cache/purge.
func purgeCache(w http.ResponseWriter, req *http.Request, in *Instance, log *slog.Logger) {
	var p PurgeRequest
	dec := json.NewDecoder(io.LimitReader(req.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || (p.URL == "") == (p.Prefix == "") {
		http.Error(w, `want a JSON body {"url": "http://host/path"} or {"prefix": "http://host/dir/"}`, http.StatusBadRequest)
		return
	}
	target, prefix := p.URL, false
	if p.Prefix != "" {
		target, prefix = p.Prefix, true
	}
	u, err := cache.ParseURL(target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := in.PurgeCache(u, prefix)
	log.Info("cache purged", "url", u, "prefix", prefix, "purged", n)
	writeJSON(w, PurgeResponse{Purged: n})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// adminGuard keeps web pages and strangers away from the admin API:
//   - requests a browser makes for another site's page (Sec-Fetch-Site
//     cross-site or same-site, or an Origin that is not the admin's own)
//     are refused, so no site a user visits can drive it; a typed address
//     (none) and the dashboard's own requests (same-origin) pass;
//   - without a token (the admin API is on loopback), the Host must name
//     this machine (an IP address or localhost), so that a web page whose
//     name was rebound to 127.0.0.1 cannot reach it as "same origin";
//   - with a token, every request but /health and the dashboard's page
//     itself must carry it (Authorization: Bearer), compared in constant
//     time.
type adminGuard struct {
	next         http.Handler
	token        string
	loopbackOnly bool
}

func (g adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "none", "same-origin":
	default:
		http.Error(w, "the admin API does not serve other sites' pages", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		http.Error(w, "the admin API does not serve other sites' pages", http.StatusForbidden)
		return
	}
	if g.loopbackOnly {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host != "localhost" && net.ParseIP(strings.Trim(host, "[]")) == nil {
			http.Error(w, "the admin API answers to its address only", http.StatusMisdirectedRequest)
			return
		}
	}
	if g.token != "" && r.URL.Path != "/health" && !strings.HasPrefix(r.URL.Path, "/dashboard/") && r.URL.Path != "/" {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse admin"`)
			http.Error(w, "admin token missing or wrong", http.StatusUnauthorized)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}
