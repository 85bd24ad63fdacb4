package config

import (
	"fmt"
	"time"
)

// ConnLimit bounds the client connections of a site's listeners. They are
// counted at accept, before any request names a host, so the limit covers
// each listener as a whole: sites that share a listener and set one must
// set the same.
type ConnLimit struct {
	// PerIP bounds the open connections (idle keep-alive ones included)
	// of one client address; 0: no bound.
	PerIP int `yaml:"per_ip"`
	// Total bounds the open connections of the listener; 0: no bound.
	Total int `yaml:"total"`
}

// Bans refuses, for a while, clients that earn too many error answers.
type Bans struct {
	// Threshold is how many counted answers within Window earn a ban.
	Threshold int `yaml:"threshold"`
	// Window is the span the answers are counted over (default 10s).
	Window Duration `yaml:"window"`
	// Duration is how long a ban lasts from its start (default 1m).
	Duration Duration `yaml:"duration"`
	// Statuses are the answers that count (default 400, 401, 403, 404,
	// 429); requests the WAF blocks count whatever their status.
	Statuses []int `yaml:"statuses"`
	// Shared: a ban earned on one instance holds on every instance of
	// the fleet (store: must be set).
	Shared bool `yaml:"shared"`
}

// defaultBanStatuses are the answers bans count unless told otherwise.
var defaultBanStatuses = []int{400, 401, 403, 404, 429}

// validateConnLimit checks a site's connection limits.
func validateConnLimit(c *ConnLimit, at keyPath, report func(keyPath, string)) {
	if c == nil {
		return
	}
	if c.PerIP < 0 {
		report(at.key("per_ip"), "must not be negative")
	}
	if c.Total < 0 {
		report(at.key("total"), "must not be negative")
	}
	if c.PerIP == 0 && c.Total == 0 {
		report(at, "set per_ip, total or both")
	}
}

// validateBans checks the automatic bans and fills in their defaults.
func validateBans(b *Bans, report func(keyPath, string)) {
	if b == nil {
		return
	}
	at := keyPath{"bans"}
	if b.Threshold < 1 {
		report(at.key("threshold"), "want how many counted answers earn a ban, at least 1")
	}
	if b.Window == 0 {
		b.Window = Duration(10 * time.Second)
	}
	if b.Duration == 0 {
		b.Duration = Duration(time.Minute)
	}
	if b.Window.Std() < time.Second {
		report(at.key("window"), "want at least 1s")
	}
	if b.Duration.Std() < time.Second {
		report(at.key("duration"), "want at least 1s")
	}
	if b.Statuses == nil {
		b.Statuses = defaultBanStatuses
	}
	for i, s := range b.Statuses {
		if s < 100 || s > 599 {
			report(at.key("statuses").idx(i), fmt.Sprintf("want an HTTP status, got %d", s))
		}
	}
}
