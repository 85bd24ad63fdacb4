package waf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// AuditLog writes one JSON line per request a WAF rule matched: when,
// which request, what was done, the anomaly scores and each rule with
// its message and the data it matched. A nil *AuditLog writes nothing.
type AuditLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenAuditLog opens (appending, creating) the audit log at path.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("waf_log: %w", err)
	}
	return &AuditLog{path: path, f: f}, nil
}

// Path is the file written.
func (a *AuditLog) Path() string { return a.path }

// Reopen opens the file again, after log rotation moved it.
func (a *AuditLog) Reopen() error {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("waf_log: %w", err)
	}
	a.mu.Lock()
	old := a.f
	a.f = f
	a.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (a *AuditLog) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}

// auditRecord is one line of the audit log.
type auditRecord struct {
	Time      string        `json:"time"`
	RequestID string        `json:"request_id"`
	Site      string        `json:"site"`
	Client    string        `json:"client"`
	Method    string        `json:"method"`
	Host      string        `json:"host"`
	URI       string        `json:"uri"`
	Action    string        `json:"action"`
	Status    int           `json:"status,omitempty"`
	Score     int           `json:"inbound_score"`
	Outbound  int           `json:"outbound_score"`
	Rules     []matchedRule `json:"rules"`
}

func (a *AuditLog) write(r *http.Request, info *reqinfo.Info, site, action string, v *verdict) {
	if a == nil {
		return
	}
	rec := auditRecord{Time: time.Now().UTC().Format(time.RFC3339Nano), RequestID: info.ID, Site: site,
		Client: info.ClientIP, Method: r.Method, Host: r.Host, URI: r.RequestURI, Action: action,
		Status: v.status, Score: v.score, Outbound: v.outbound, Rules: v.rules}
	// <, > and & stay as they are: the log is read by people and by
	// tools that grep for the matched data, not embedded in HTML.
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return
	}
	a.mu.Lock()
	_, _ = a.f.Write(line.Bytes())
	a.mu.Unlock()
}
