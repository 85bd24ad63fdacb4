package proxy

import (
	"net"
	"net/http"
	"sort"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// param is one extra CGI variable of a route: a name and a value with
// placeholders.
type param struct {
	name  string
	value placeholder.Value
}

// gatewayParams parses the extra variables of the route's uwsgi, scgi or
// fastcgi block, in name order; nil when there are none.
func gatewayParams(route config.Route) ([]param, error) {
	var params map[string]string
	switch {
	case route.UWSGI != nil:
		params = route.UWSGI.Params
	case route.SCGI != nil:
		params = route.SCGI.Params
	case route.FastCGI != nil:
		params = route.FastCGI.Params
	}
	if len(params) == 0 {
		return nil, nil
	}
	out := make([]param, 0, len(params))
	for name, v := range params {
		pv, err := placeholder.Parse(v)
		if err != nil {
			return nil, err
		}
		out = append(out, param{name: name, value: pv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// gateway fills in what CGI-style variables carry beyond the request.
func (h *Handler) gateway(r *http.Request, info *reqinfo.Info, out *upstream.Request) {
	g := &out.Gateway
	g.Path, g.RequestURI, g.Proto = r.URL.Path, r.RequestURI, r.Proto
	g.RemoteAddr, g.ServerPort, g.HTTPS = info.ClientIP, info.ServerPort, info.Scheme == "https"
	if info.ClientIP == info.Peer {
		if _, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			g.RemotePort = port
		}
	}
	if len(h.params) > 0 {
		g.Params = make([]upstream.Field, len(h.params))
		for i, p := range h.params {
			g.Params[i] = upstream.Field{Name: p.name, Value: p.value.Render(r, info)}
		}
	}
}
