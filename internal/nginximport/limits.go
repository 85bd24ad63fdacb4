package nginximport

import (
	"regexp"
	"strconv"
	"strings"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// rateSyntax is a rate both nginx and Gatehouse read.
var rateSyntax = regexp.MustCompile(`^[1-9][0-9]{0,8}r/[sm]$`)

// zone records a limit_req_zone (key and rate) or limit_conn_zone (key).
func (m *mapper) zone(d *crossplane.Directive) {
	key, name, rate := d.Args[0], "", ""
	for _, a := range d.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "zone":
			name, _, _ = strings.Cut(v, ":")
		case "rate":
			rate = v
		}
	}
	if d.Directive == "limit_conn_zone" {
		m.connZones[name] = key
		return
	}
	m.reqZones[name] = [2]string{key, rate}
}

// rateLimits maps limit_req lines to a rate_limit list.
func (m *mapper) rateLimits(list []limitReq, status int) *node {
	out := newSeq()
	for _, lr := range list {
		z, ok := m.reqZones[lr.zone]
		if !ok {
			m.warn(lr.at, "no limit_req_zone named %q", lr.zone)
			continue
		}
		key, bad := value(z[0])
		if bad != "" {
			m.warn(lr.at, "the zone's key %s has no Gatehouse placeholder: counted by client address", bad)
			key = "{client_ip}"
		}
		if !rateSyntax.MatchString(z[1]) {
			m.warn(lr.at, "the zone's rate %q is not carried over (want N r/s or N r/m)", z[1])
			continue
		}
		rl := newMap()
		rl.set("name", str(routeName(lr.zone)))
		if key != "{client_ip}" {
			rl.set("key", str(key))
		}
		rl.set("rate", str(z[1]))
		if lr.burst > 0 {
			rl.set("burst", num(lr.burst))
		}
		if !lr.nodelay {
			rl.set("action", str("delay"))
		}
		if status == 0 {
			status = 503 // nginx's limit_req_status
		}
		rl.set("status", num(status))
		out.add(rl)
	}
	if len(out.items) == 1 {
		return out.items[0]
	}
	return out
}

// connLimit maps a server's limit_conn lines keyed by client address to
// its site's conn_limit.
func (m *mapper) connLimit(ds []*crossplane.Directive, site *node) {
	for _, d := range ds {
		key, ok := m.connZones[d.Args[0]]
		n, err := strconv.Atoi(d.Args[len(d.Args)-1])
		switch {
		case !ok:
			m.warn(d, "no limit_conn_zone named %q", d.Args[0])
		case err != nil:
			m.warn(d, "cannot read the count %q", d.Args[len(d.Args)-1])
		case key == "$binary_remote_addr" || key == "$remote_addr":
			site.child("conn_limit").set("per_ip", num(n))
		case key == "$server_name" || key == "$host":
			site.child("conn_limit").set("total", num(n))
		default:
			m.warn(d, "connections counted by %s are not carried over (Gatehouse counts per client address or in total)", key)
		}
	}
}
