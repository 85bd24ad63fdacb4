package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// startAdmin serves the admin API: POST /reload, GET /health, GET /status
// (pools and maintenance as JSON) and POST /maintenance/on|off. When the
// address was left at its default and is taken (another instance), the
// admin API is skipped with a warning.
func startAdmin(addr string, r *reloader, log *slog.Logger) (*http.Server, error) {
	defaulted := addr == ""
	if defaulted {
		addr = config.DefaultAdmin
	}
	if addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if defaulted {
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
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.in.Status())
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
	srv := &http.Server{Handler: sameOriginOnly(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("admin API listening", "addr", ln.Addr().String())
	return srv, nil
}

// sameOriginOnly refuses requests that a web browser made on behalf of a
// page (they carry Origin or Sec-Fetch-Site), so that no site a user visits
// can drive the admin API on their machine.
func sameOriginOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
			http.Error(w, "the admin API does not accept browser requests", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
