package waf

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// verdict is what inspecting one request and its response found.
type verdict struct {
	// status is the status of the first interruption (0: none).
	status int
	// blocked: the request or the response was answered with status;
	// failed: the WAF itself failed (or the body could not be read).
	blocked, failed bool
	// rules are the logged rules that matched, from every transaction.
	rules []matchedRule
	// score is the inbound anomaly score, outbound the outbound one.
	score, outbound int
	// patches are the virtual patches whose rules matched.
	patches []*patch
}

// matchedRule is one matched rule as the logs show it.
type matchedRule struct {
	ID       int    `json:"id"`
	Message  string `json:"msg,omitempty"`
	Data     string `json:"data,omitempty"`
	Severity string `json:"severity,omitempty"`
	Phase    int    `json:"phase"`
}

func (v *verdict) interrupted(it *types.Interruption) {
	if v.status == 0 {
		v.status = interruptionStatus(it)
	}
}

// action is the verdict as the access log and the metrics name it.
func (v *verdict) action() string {
	switch {
	case v.blocked:
		return "block"
	case v.status != 0:
		return "detect"
	default:
		return "pass"
	}
}

// logger is the part of Coraza's matched rules that says whether the
// rule logs (CRS's bookkeeping rules match on every request, silently).
type logger interface{ Log() bool }

// collect adds what tx found: its logged rules, its anomaly scores, and
// the patches hit.
func (v *verdict) collect(tx types.Transaction, isPatches bool, ps *Patches) {
	for _, mr := range tx.MatchedRules() {
		if l, ok := mr.(logger); ok && !l.Log() {
			continue
		}
		meta := mr.Rule()
		v.rules = append(v.rules, matchedRule{ID: meta.ID(), Message: mr.Message(), Data: truncate(mr.Data(), 200),
			Severity: severity(meta.Severity()), Phase: int(meta.Phase())})
		if isPatches {
			if p := ps.byRule(meta.ID()); p != nil && !containsPatch(v.patches, p) {
				v.patches = append(v.patches, p)
			}
		}
	}
	if vt, ok := tx.(interface {
		Variables() plugintypes.TransactionVariables
	}); ok && !isPatches {
		v.score = max(v.score, txInt(vt, "blocking_inbound_anomaly_score"))
		v.outbound = max(v.outbound, txInt(vt, "blocking_outbound_anomaly_score"))
	}
}

func txInt(vt interface {
	Variables() plugintypes.TransactionVariables
}, key string) int {
	vals := vt.Variables().TX().Get(key)
	if len(vals) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(vals[0])
	return n
}

func severity(s types.RuleSeverity) string {
	if s < 0 {
		return ""
	}
	return s.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func containsPatch(ps []*patch, p *patch) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// ruleIDs is the comma-separated ids of the matched rules, each once.
func (v *verdict) ruleIDs() string {
	var b strings.Builder
	seen := map[int]bool{}
	for _, r := range v.rules {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.ID))
	}
	return b.String()
}

// report records the verdict: in the request's info for the access log,
// in the counters, the patches' hit counts and the audit log.
func (h *Handler) report(r *http.Request, info *reqinfo.Info, v *verdict) {
	action := v.action()
	if v.failed {
		action = "error"
	}
	h.opt.Counters.count(action)
	for _, p := range v.patches {
		p.hits.Add(1)
	}
	if len(v.rules) == 0 && v.status == 0 && !v.failed {
		return
	}
	info.WAF, info.WAFRules, info.WAFScore = action, v.ruleIDs(), v.score
	h.opt.Audit.write(r, info, h.opt.Site, action, v)
}
