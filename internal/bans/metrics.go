package bans

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/metrics"
)

var (
	descActive = prometheus.NewDesc(metrics.Prefix+"bans_active",
		"Client addresses banned now (automatic and admin bans).", nil, nil)
	descIssued = prometheus.NewDesc(metrics.Prefix+"bans_total",
		"Bans started since the process began, automatic and admin.", nil, nil)
)

// Describe sends the descriptions of the bans' metrics.
func (l *List) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActive
	ch <- descIssued
}

// Collect sends the bans' metrics.
func (l *List) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(l.Active()))
	ch <- prometheus.MustNewConstMetric(descIssued, prometheus.CounterValue, float64(l.Issued()))
}

// Active counts the bans in force now.
func (l *List) Active() int {
	now := l.now()
	n := 0
	l.mu.RLock()
	for _, until := range l.banned {
		if now.Before(until) {
			n++
		}
	}
	l.mu.RUnlock()
	return n
}
