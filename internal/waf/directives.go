package waf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// directives renders a policy as the SecLang text its rule set is
// compiled from: Coraza's recommended settings, the CRS setup, the
// policy's settings as the CRS reads them, the policy's own rules, the CRS
// rules, and the exclusions last (a rule can only be removed once
// defined). Detect and block compile alike: the mode is applied when a
// request is answered.
func directives(p *config.WAFPolicy) string {
	var b strings.Builder
	b.WriteString("Include @coraza.conf-recommended\n")
	b.WriteString("SecRuleEngine On\n")
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\n", p.BodyLimit)
	fmt.Fprintf(&b, "SecRequestBodyInMemoryLimit %d\n", min(p.BodyLimit, 128<<10))
	if p.PartialBodies {
		b.WriteString("SecRequestBodyLimitAction ProcessPartial\n")
	}
	if p.Responses {
		b.WriteString("SecResponseBodyAccess On\n")
	} else {
		b.WriteString("SecResponseBodyAccess Off\n")
	}
	b.WriteString("SecAuditEngine Off\n")
	// CRS 4.25.0's setup file names default actions for phases 1 and 2
	// only; its response rules use "block", which needs one for 3 and 4.
	b.WriteString("SecDefaultAction \"phase:3,log,auditlog,pass\"\n")
	b.WriteString("SecDefaultAction \"phase:4,log,auditlog,pass\"\n")
	b.WriteString("SecDefaultAction \"phase:5,log,auditlog,pass\"\n")
	b.WriteString("Include @crs-setup.conf.example\n")
	fmt.Fprintf(&b, "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d\"\n", p.Paranoia)
	fmt.Fprintf(&b, "SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d\"\n",
		p.Inbound, p.Outbound)
	for _, r := range p.Rules {
		b.WriteString(r.Text)
		b.WriteByte('\n')
	}
	b.WriteString("Include @owasp_crs/*.conf\n")
	if len(p.Exclude) > 0 {
		b.WriteString("SecRuleRemoveById")
		for _, id := range p.Exclude {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(id))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
