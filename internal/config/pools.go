package config

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// Pool defaults.
const (
	DefaultHealthInterval   = 5 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultHealthThreshold  = 2
	DefaultPassiveFails     = 1
	DefaultPassiveWindow    = 10 * time.Second
	DefaultPassiveDownFor   = 10 * time.Second
	DefaultRetryTries       = 3
	DefaultRetryTimeout     = 10 * time.Second
	DefaultRetryBudget      = 0.2
	DefaultResolveInterval  = 30 * time.Second
	DefaultStickyCookieName = "gh_upstream"
)

// Balancing policies.
var balancePolicies = []string{"round_robin", "least_conn", "random_two", "ip_hash", "hash", "first"}

// UpstreamDefaults fills in a pool's defaults; dir resolves relative TLS
// file paths. Routes that list URLs get a pool with these defaults too.
func UpstreamDefaults(dir string, u *Upstream) {
	if u.Balance == "" {
		u.Balance = "round_robin"
	}
	for i := range u.Servers {
		if u.Servers[i].Weight == 0 {
			u.Servers[i].Weight = 1
		}
	}
	if a := u.Health.Active; a != nil {
		if a.Path == "" {
			a.Path = "/"
		}
		setDefault(&a.Interval, Duration(DefaultHealthInterval))
		setDefault(&a.Timeout, min(Duration(DefaultHealthTimeout), a.Interval))
		setDefault(&a.Passes, DefaultHealthThreshold)
		setDefault(&a.Fails, DefaultHealthThreshold)
	}
	if u.Health.Passive == nil {
		u.Health.Passive = &PassiveHealth{}
	}
	p := u.Health.Passive
	setDefault(&p.Fails, DefaultPassiveFails)
	setDefault(&p.Window, Duration(DefaultPassiveWindow))
	setDefault(&p.DownFor, Duration(DefaultPassiveDownFor))
	setDefault(&u.Retries.Tries, DefaultRetryTries)
	setDefault(&u.Retries.Timeout, Duration(DefaultRetryTimeout))
	setDefault(&u.Retries.Budget, DefaultRetryBudget)
	setDefault(&u.ResolveInterval, Duration(DefaultResolveInterval))
	if u.Sticky != nil && u.Sticky.Cookie == "" {
		u.Sticky.Cookie = DefaultStickyCookieName
	}
	if u.TLS != nil {
		u.TLS.CA, u.TLS.Cert, u.TLS.Key = resolvePath(dir, u.TLS.CA), resolvePath(dir, u.TLS.Cert), resolvePath(dir, u.TLS.Key)
	}
}

// validatePool checks a pool's policy and health settings.
func validatePool(u Upstream, at keyPath, report func(keyPath, string)) {
	oneOf(report, at.key("balance"), u.Balance, balancePolicies...)
	switch {
	case u.Balance == "hash" && u.HashKey == "":
		report(at.key("hash_key"), `balance: hash needs hash_key: "uri", "header:NAME" or "cookie:NAME"`)
	case u.HashKey != "" && u.Balance != "hash":
		report(at.key("hash_key"), "hash_key is used only with balance: hash")
	case u.HashKey != "":
		if _, _, err := ParseHashKey(u.HashKey); err != nil {
			report(at.key("hash_key"), err.Error())
		}
	}
	backups := 0
	for i, s := range u.Servers {
		if s.MaxConns < 0 {
			report(at.key("servers").idx(i).key("max_conns"), "must not be negative")
		}
		if s.Backup {
			backups++
		}
	}
	if len(u.Servers) > 0 && backups == len(u.Servers) {
		report(at.key("servers"), "a pool needs at least one server that is not a backup")
	}
	if a := u.Health.Active; a != nil {
		aat := at.key("health").key("active")
		if !strings.HasPrefix(a.Path, "/") {
			report(aat.key("path"), fmt.Sprintf("want a path starting with /, got %q", a.Path))
		}
		if a.Timeout > a.Interval {
			report(aat.key("timeout"), "must not be longer than interval")
		}
		for i, st := range a.Status {
			if st < 100 || st > 599 {
				report(aat.key("status").idx(i), fmt.Sprintf("%d is not an HTTP status", st))
			}
		}
		if a.Passes < 0 || a.Fails < 0 {
			report(aat, "passes and fails must be positive")
		}
	}
	if p := u.Health.Passive; p != nil {
		for i, st := range p.Statuses {
			if st < 500 || st > 599 {
				report(at.key("health").key("passive").key("statuses").idx(i), fmt.Sprintf("%d: only 5xx statuses can count as failures", st))
			}
		}
	}
	if u.Retries.Tries < 0 {
		report(at.key("retries").key("tries"), "must be positive")
	}
	if u.Retries.Budget < 0 || u.Retries.Budget > 1 {
		report(at.key("retries").key("budget"), "must be between 0 and 1")
	}
}

// ParseHashKey splits a hash_key into its kind (uri, header, cookie) and
// name.
func ParseHashKey(k string) (kind, name string, err error) {
	if k == "uri" {
		return "uri", "", nil
	}
	kind, name, ok := strings.Cut(k, ":")
	if !ok || name == "" || (kind != "header" && kind != "cookie") {
		return "", "", fmt.Errorf(`hash_key %q: want "uri", "header:NAME" or "cookie:NAME"`, k)
	}
	if kind == "header" {
		name = http.CanonicalHeaderKey(name)
	}
	return kind, name, nil
}

// validateErrorPages checks that every error page names an error status
// and a readable file.
func validateErrorPages(s *Site, at keyPath, report func(keyPath, string)) {
	statuses := make([]int, 0, len(s.ErrorPages))
	for st := range s.ErrorPages {
		statuses = append(statuses, st)
	}
	sort.Ints(statuses)
	for _, st := range statuses {
		pat := at.key("error_pages").key(fmt.Sprint(st))
		if st < 400 || st > 599 {
			report(pat, fmt.Sprintf("%d is not an error status (400-599)", st))
			continue
		}
		if _, err := os.ReadFile(s.ErrorPages[st]); err != nil {
			report(pat, fmt.Sprintf("cannot read the error page: %v", err))
		}
	}
}
