// Copyright 2026 The Gatehouse authors (patch to OWASP Coraza v3.8.1)
// SPDX-License-Identifier: Apache-2.0

package corazawaf

import (
	"regexp"
	"strings"

	"github.com/corazawaf/coraza/v3/internal/collections"
	"github.com/corazawaf/coraza/v3/types"
)

// ruleMap is the RULE collection (RULE:id, RULE:msg, RULE:rev,
// RULE:logdata, RULE:severity of the rule in evaluation). Upstream fills
// it at the start of every rule evaluation, expanding msg and logdata
// each time, although almost no rule reads it (the OWASP CRS never does):
// that bookkeeping was a fifth of the CRS's cost on a small GET. Here
// each evaluation only names its rule; the collection is filled from
// that rule when something first reads or writes it, with the
// transaction's variables as they are at that moment.
type ruleMap struct {
	*collections.Map
	tx *Transaction
	// owner is the rule whose fields are still to be filled in, if any.
	owner *Rule
}

// use makes r the rule the collection describes.
func (m *ruleMap) use(r *Rule) { m.owner = r }

// fill writes the fields of the rule in evaluation, once.
func (m *ruleMap) fill() {
	r := m.owner
	if r == nil {
		return
	}
	m.owner = nil
	c := m.Map
	c.SetIndex("id", 0, r.LogID())
	if r.Msg != nil {
		c.SetIndex("msg", 0, r.Msg.Expand(m.tx))
	}
	c.SetIndex("rev", 0, r.Rev_)
	if r.LogData != nil {
		c.SetIndex("logdata", 0, r.LogData.Expand(m.tx))
	}
	c.SetIndex("severity", 0, r.Severity_.String())
}

// Get fills the collection, then reads key.
func (m *ruleMap) Get(key string) []string {
	m.fill()
	return m.Map.Get(key)
}

// FindRegex fills the collection, then reads the keys key matches.
func (m *ruleMap) FindRegex(key *regexp.Regexp) []types.MatchData {
	m.fill()
	return m.Map.FindRegex(key)
}

// FindString fills the collection, then reads key.
func (m *ruleMap) FindString(key string) []types.MatchData {
	m.fill()
	return m.Map.FindString(key)
}

// FindAll fills the collection, then reads all of it.
func (m *ruleMap) FindAll() []types.MatchData {
	m.fill()
	return m.Map.FindAll()
}

// Add fills the collection, then adds a value to key.
func (m *ruleMap) Add(key, value string) {
	m.fill()
	m.Map.Add(key, value)
}

// Set fills the collection, then sets key's values.
func (m *ruleMap) Set(key string, values []string) {
	m.fill()
	m.Map.Set(key, values)
}

// SetIndex fills the collection, then sets one of key's values.
func (m *ruleMap) SetIndex(key string, index int, value string) {
	m.fill()
	m.Map.SetIndex(key, index, value)
}

// Remove fills the collection, then removes key.
func (m *ruleMap) Remove(key string) {
	m.fill()
	m.Map.Remove(key)
}

// Format fills the collection, then writes it out.
func (m *ruleMap) Format(res *strings.Builder) {
	m.fill()
	m.Map.Format(res)
}

// String fills the collection, then formats it.
func (m *ruleMap) String() string {
	m.fill()
	return m.Map.String()
}

// Len fills the collection, then counts its keys.
func (m *ruleMap) Len() int {
	m.fill()
	return m.Map.Len()
}

// Reset empties the collection and forgets the rule.
func (m *ruleMap) Reset() {
	m.owner = nil
	m.Map.Reset()
}
