package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/waf"
)

// PatchRequest is the body of POST /waf/patches.
type PatchRequest struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
}

// handleWAF adds the virtual patch endpoints to the admin API:
// POST /waf/patches (201 added, 200 replaced, 400 a bad patch), GET
// /waf/patches (the list with hit counts) and DELETE /waf/patches/{id}
// (404 for an unknown id).
func handleWAF(mux *http.ServeMux, in *Instance, log *slog.Logger) {
	mux.HandleFunc("GET /waf/patches", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		list := []waf.Patch{}
		if ws := in.WAF(); ws != nil {
			list = ws.Patches.List()
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("POST /waf/patches", func(w http.ResponseWriter, req *http.Request) {
		ws := in.WAF()
		if ws == nil {
			http.Error(w, "no config loaded yet", http.StatusServiceUnavailable)
			return
		}
		var p PatchRequest
		dec := json.NewDecoder(io.LimitReader(req.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			http.Error(w, `want a JSON body {"id": "cve-2026-0001", "rule": "SecRule ..."}`, http.StatusBadRequest)
			return
		}
		created, err := ws.Patches.Add(p.ID, p.Rule)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, waf.ErrBadPatch) {
				status = http.StatusBadRequest
			}
			http.Error(w, err.Error(), status)
			return
		}
		log.Info("waf patch applied", "id", p.ID, "created", created)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(waf.Patch{ID: p.ID, Rule: p.Rule})
	})
	mux.HandleFunc("DELETE /waf/patches/{id}", func(w http.ResponseWriter, req *http.Request) {
		ws := in.WAF()
		id := req.PathValue("id")
		if ws == nil || ws.Patches.Remove(id) != nil {
			http.Error(w, "no patch "+id, http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "patch "+id+" removed\n")
	})
}

// wafCollector reports the WAF's metrics once the WAF's state exists.
type wafCollector struct{ in *Instance }

// Describe sends the WAF metrics' descriptions.
func (c wafCollector) Describe(ch chan<- *prometheus.Desc) { waf.DescribeMetrics(ch) }

// Collect sends the WAF's metrics.
func (c wafCollector) Collect(ch chan<- prometheus.Metric) {
	if ws := c.in.WAF(); ws != nil {
		ws.Collect(ch)
	}
}
