package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// BanRequest is the body of POST /bans.
type BanRequest struct {
	IP string `json:"ip"`
	// Duration is how long the ban lasts, e.g. "1h" (default 1h).
	Duration string `json:"duration"`
}

// defaultBan is how long an admin ban lasts unless told.
const defaultBan = time.Hour

// handleBans adds the ban endpoints to the admin API: GET /bans (the bans
// in force), POST /bans (201 with the ban, 400 for a bad address or
// duration) and DELETE /bans/{ip} (404 when the address is not banned).
func handleBans(mux *http.ServeMux, in *Instance, log *slog.Logger) {
	mux.HandleFunc("GET /bans", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, in.Bans().Entries())
	})
	mux.HandleFunc("POST /bans", func(w http.ResponseWriter, req *http.Request) {
		var b BanRequest
		dec := json.NewDecoder(io.LimitReader(req.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			http.Error(w, `want a JSON body {"ip": "192.0.2.7", "duration": "1h"}`, http.StatusBadRequest)
			return
		}
		ip, err := netip.ParseAddr(b.IP)
		if err != nil || ip.Zone() != "" {
			http.Error(w, fmt.Sprintf("want an IPv4 or IPv6 address, got %q", b.IP), http.StatusBadRequest)
			return
		}
		d := defaultBan
		if b.Duration != "" {
			if d, err = config.ParseDuration(b.Duration); err != nil || d < time.Second {
				http.Error(w, fmt.Sprintf("want a duration of at least 1s such as 10m, 1h or 7d, got %q", b.Duration), http.StatusBadRequest)
				return
			}
		}
		until := in.Bans().Ban(ip, d)
		log.Info("ban added through the admin API", "client", ip.Unmap().String(), "duration", d.String())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"ip": ip.Unmap().String(), "expires": until.UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("DELETE /bans/{ip}", func(w http.ResponseWriter, req *http.Request) {
		s := req.PathValue("ip")
		ip, err := netip.ParseAddr(s)
		if err != nil || !in.Bans().Unban(ip) {
			http.Error(w, s+" is not banned", http.StatusNotFound)
			return
		}
		log.Info("ban lifted through the admin API", "client", ip.Unmap().String())
		_, _ = io.WriteString(w, ip.Unmap().String()+" unbanned\n")
	})
}
