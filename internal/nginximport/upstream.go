package nginximport

import (
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// upstream maps an upstream block to a pool; its servers get the scheme
// of the *_pass that uses it (http by default).
func (m *mapper) upstream(d *crossplane.Directive, pools *node) {
	name := d.Args[0]
	scheme := m.schemes[name]
	if scheme == "" {
		scheme = "http"
	}
	pool := newMap()
	pool.note(m.from(d))
	servers := newSeq()
	var maxFails, failTimeout string
	for _, c := range d.Block {
		switch c.Directive {
		case "server":
			addr, ok := serverAddr(c)
			if !ok {
				m.warn(c, "cannot carry over the address %q: left out", c.Args[0])
				continue
			}
			entry := newMap()
			entry.set("url", str(scheme+"://"+addr))
			for _, p := range c.Args[1:] {
				k, v, _ := strings.Cut(p, "=")
				switch k {
				case "weight":
					if n, err := strconv.Atoi(v); err == nil {
						entry.set("weight", num(n))
					}
				case "backup":
					entry.set("backup", boolean(true))
				case "max_conns":
					if n, err := strconv.Atoi(v); err == nil {
						entry.set("max_conns", num(n))
					}
				case "max_fails":
					maxFails = v
				case "fail_timeout":
					failTimeout = v
				case "down":
					m.warn(c, "a server marked down is left out")
					entry = nil
				default:
					m.warn(c, "the parameter %s is not carried over", k)
				}
				if entry == nil {
					break
				}
			}
			if entry != nil {
				servers.add(entry)
			}
		case "least_conn":
			pool.set("balance", str("least_conn"))
		case "ip_hash":
			pool.set("balance", str("ip_hash"))
		case "random":
			pool.set("balance", str("random_two"))
		case "hash":
			m.hash(c, pool)
		case "keepalive", "keepalive_timeout", "keepalive_requests", "keepalive_time", "zone":
			// Gatehouse keeps idle upstream connections on its own.
		default:
			m.unsupported(c, "no Gatehouse equivalent in an upstream")
		}
	}
	pool.set("servers", servers)
	if maxFails != "" || failTimeout != "" {
		passive := pool.child("health").child("passive")
		if maxFails == "0" || failTimeout == "0" || failTimeout == "0s" {
			// nginx: never mark the server unavailable.
			passive.set("off", boolean(true))
		} else {
			fails := 1
			if n, err := strconv.Atoi(maxFails); err == nil {
				fails = n
			}
			window := "10s"
			if v, ok := duration(failTimeout); ok {
				window = v
			}
			passive.set("fails", num(fails))
			passive.set("window", str(window))
			passive.set("down_for", str(window))
		}
	}
	pools.set(name, pool)
}

// hash maps "hash KEY [consistent]".
func (m *mapper) hash(d *crossplane.Directive, pool *node) {
	key := d.Args[0]
	switch {
	case key == "$request_uri" || key == "$uri":
		pool.set("hash_key", str("uri"))
	case key == "$remote_addr" || key == "$binary_remote_addr":
		pool.set("balance", str("ip_hash"))
		return
	case strings.HasPrefix(key, "$http_"):
		pool.set("hash_key", str("header:"+strings.ReplaceAll(key[len("$http_"):], "_", "-")))
	case strings.HasPrefix(key, "$cookie_"):
		pool.set("hash_key", str("cookie:"+key[len("$cookie_"):]))
	default:
		m.warn(d, "the key %s is not carried over: hashing by uri", key)
		pool.set("hash_key", str("uri"))
	}
	pool.set("balance", str("hash"))
}

// serverAddr is an upstream server's address as host:port (port 80 when
// it names none), or false when Gatehouse cannot read it.
func serverAddr(d *crossplane.Directive) (string, bool) {
	addr := d.Args[0]
	if !strings.HasPrefix(addr, "unix:") && !strings.Contains(strings.TrimPrefix(strings.TrimPrefix(addr, "["), "::"), ":") {
		addr += ":80"
	}
	_, err := config.ParseUpstreamURL("http://" + addr)
	return addr, err == nil
}
