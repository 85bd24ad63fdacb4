// Package waf is Gatehouse's web application firewall: Coraza running the
// OWASP Core Rule Set (embedded, no files on disk) on a route's requests
// and responses, plus virtual patches, rules added at run time that apply
// to every route with the WAF on within a second, without a reload.
//
// A Library compiles each distinct policy once and keeps the compiled rule
// sets across reloads; New wraps a route's handler in the inspection; the
// Patches hold the virtual patches and their own small rule set.
package waf
