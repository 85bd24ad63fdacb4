package nginximport

import (
	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// quiet are directives that need no counterpart: Gatehouse manages the
// matter itself (processes, buffers, MIME types, TLS ciphers, versions
// in headers), so leaving them out changes nothing a client sees.
var quiet = map[string]bool{
	"user": true, "worker_processes": true, "worker_rlimit_nofile": true, "worker_connections": true,
	"worker_cpu_affinity": true, "worker_priority": true, "worker_shutdown_timeout": true, "pid": true,
	"error_log": true, "load_module": true, "daemon": true, "master_process": true, "pcre_jit": true,
	"thread_pool": true, "timer_resolution": true, "lock_file": true, "working_directory": true,
	"events": true, "env": true, "multi_accept": true, "use": true, "accept_mutex": true,
	"types": true, "sendfile": true, "tcp_nopush": true, "tcp_nodelay": true,
	"server_tokens": true, "types_hash_max_size": true, "types_hash_bucket_size": true,
	"server_names_hash_bucket_size": true, "server_names_hash_max_size": true, "variables_hash_max_size": true,
	"ssl_ciphers": true, "ssl_prefer_server_ciphers": true, "ssl_session_cache": true,
	"ssl_session_timeout": true, "ssl_session_tickets": true, "ssl_ecdh_curve": true, "ssl_dhparam": true,
	"ssl_stapling": true, "ssl_stapling_verify": true, "ssl_buffer_size": true,
	"gzip_types": true, "gzip_vary": true, "gzip_proxied": true, "gzip_comp_level": true,
	"gzip_min_length": true, "gzip_disable": true, "gzip_http_version": true, "gzip_buffers": true,
	"proxy_http_version": true, "proxy_redirect": true, "proxy_buffers": true, "proxy_buffer_size": true,
	"proxy_busy_buffers_size": true, "proxy_temp_file_write_size": true, "proxy_max_temp_file_size": true,
	"client_body_buffer_size": true, "client_header_buffer_size": true, "large_client_header_buffers": true,
	"open_file_cache": true, "open_file_cache_valid": true, "open_file_cache_min_uses": true,
	"open_file_cache_errors": true, "reset_timedout_connection": true, "keepalive_requests": true,
	"charset": true, "source_charset": true, "uwsgi_param": true, "scgi_param": true,
	"http2": true, "send_timeout": true, "log_not_found": true, "etag": true, "if_modified_since": true,
	"server_name_in_redirect": true, "port_in_redirect": true, "absolute_redirect": true,
}

// main maps the main context.
func (m *mapper) main(top crossplane.Directives) *node {
	out := newMap()
	var http *crossplane.Directive
	for _, d := range top {
		switch {
		case d.Directive == "http":
			if http != nil {
				m.warn(d, "a second http block: only the first is imported")
				continue
			}
			http = d
		case d.Directive == "stream" || d.Directive == "mail":
			m.unsupported(d, "TCP/UDP and mail proxying are not Gatehouse's work")
		case quiet[d.Directive]:
		default:
			m.unsupported(d, "no Gatehouse equivalent")
		}
	}
	if http != nil {
		m.http(http, out)
	}
	if out.get("sites") == nil {
		out.set("sites", newSeq())
	}
	return out
}

// http maps the http context: its settings, upstreams and servers.
func (m *mapper) http(d *crossplane.Directive, out *node) {
	s := &scope{}
	var servers, upstreams []*crossplane.Directive
	client := newMap()
	for _, c := range d.Block {
		if m.apply(s, c) {
			continue
		}
		switch c.Directive {
		case "server":
			servers = append(servers, c)
		case "upstream":
			upstreams = append(upstreams, c)
		case "access_log":
			m.accessLog(c, out)
		case "log_format":
			m.warn(c, "custom formats are not carried over: the access log is written as json (or combined, nginx's default, where access_log names no format)")
		case "client_header_timeout":
			if v, ok := duration(c.Args[0]); ok {
				client.set("header_timeout", str(v))
			}
		case "ssl_protocols":
			m.sslProtocols(c)
		case "limit_req_zone", "limit_conn_zone":
			m.zone(c)
		case "proxy_cache_path":
			m.cachePath(c, out)
		default:
			if !quiet[c.Directive] {
				m.unsupported(c, "no Gatehouse equivalent")
			}
		}
	}
	if s.keepalive != "" {
		if v, ok := duration(s.keepalive); ok && v != "0s" {
			client.set("idle_timeout", str(v))
		}
	}
	// nginx refuses bodies over 1 MB unless told otherwise.
	body := "1m"
	if s.maxBody != "" {
		body = s.maxBody
	}
	m.httpMaxBody = body
	if v, ok := size(body); ok && v != "0" {
		client.set("max_body_size", str(v))
	}
	if !client.empty() {
		out.set("client", client)
	}
	var pools []*crossplane.Directive
	for _, u := range upstreams {
		servers := 0
		for _, c := range u.Block {
			if c.Directive != "server" || len(c.Args) == 0 || contains(c.Args[1:], "down") {
				continue
			}
			if addr, ok := serverAddr(c); ok {
				if servers == 0 {
					m.upstreamAddrs[u.Args[0]] = addr
				}
				servers++
			}
		}
		if servers == 0 {
			m.warn(u, "an upstream with no server: left out (nginx would not start)")
			continue
		}
		m.upstreams[u.Args[0]] = true
		pools = append(pools, u)
	}
	upstreams = pools
	sites := newSeq()
	var built []*site
	for _, srv := range servers {
		if st := m.server(srv, s); st != nil {
			built = append(built, st)
		}
	}
	built = m.defaults(built)
	for _, st := range built {
		sites.add(st.out)
	}
	if len(upstreams) > 0 {
		pools := newMap()
		for _, u := range upstreams {
			m.upstream(u, pools)
		}
		out.set("upstreams", pools)
	}
	out.set("sites", sites)
}

// accessLog maps access_log.
func (m *mapper) accessLog(d *crossplane.Directive, out *node) {
	log := out.child("access_log")
	if d.Args[0] == "off" {
		log.set("output", str("off"))
		return
	}
	log.set("output", str(m.path(d.Args[0])))
	format := "combined"
	if len(d.Args) > 1 {
		format = d.Args[1]
	}
	if format == "combined" {
		log.set("format", str("combined"))
	} else {
		log.set("format", str("json"))
		m.warn(d, "the log format %q is written as json (Gatehouse's formats: json, combined)", format)
	}
}

// sslProtocols warns about protocols Gatehouse does not speak.
func (m *mapper) sslProtocols(d *crossplane.Directive) {
	for _, p := range d.Args {
		if p != "TLSv1.2" && p != "TLSv1.3" {
			m.warn(d, "%s is not offered: Gatehouse speaks TLS 1.2 and 1.3", p)
		}
	}
}
