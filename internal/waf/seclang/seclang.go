// Package seclang checks rules written in SecLang (the ModSecurity rule
// language Coraza and the OWASP Core Rule Set speak) on their own, so that
// a config or a virtual patch with a bad rule is refused with the parser's
// message before anything is built from it.
package seclang

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3"
)

// Check compiles directives alone and returns the parser's error, if any.
// Rules must carry ids: text with a rule directive but no id is refused.
func Check(directives string) error {
	if ruleDirective.MatchString(directives) && len(RuleIDs(directives)) == 0 {
		return fmt.Errorf("invalid rule: no id action (add id:N, e.g. id:1001)")
	}
	if _, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(directives)); err != nil {
		return fmt.Errorf("invalid rule: %w", err)
	}
	return nil
}

// OnlyRules checks that directives declare rules and nothing else (no
// Include, no engine settings): what a virtual patch may contain.
func OnlyRules(directives string) error {
	var logical strings.Builder
	check := func() error {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		name, _, _ := strings.Cut(line, " ")
		if !strings.EqualFold(name, "SecRule") && !strings.EqualFold(name, "SecAction") {
			return fmt.Errorf("only SecRule and SecAction are allowed here, not %s", name)
		}
		return nil
	}
	for _, line := range strings.Split(directives, "\n") {
		if cont, ok := strings.CutSuffix(strings.TrimRight(line, " \t\r"), "\\"); ok {
			logical.WriteString(cont)
			logical.WriteByte(' ')
			continue
		}
		logical.WriteString(line)
		if err := check(); err != nil {
			return err
		}
	}
	return check()
}

// ruleDirective finds the directives that declare rules.
var ruleDirective = regexp.MustCompile(`(?im)^\s*Sec(?:Rule|Action)\b`)

// idAction finds the id actions of rules ("id:1001", "id:'1001'").
var idAction = regexp.MustCompile(`(?:^|[\s,"'])id\s*:\s*'?(\d+)`)

// RuleIDs returns the rule ids directives declare, in order.
func RuleIDs(directives string) []int {
	var ids []int
	for _, m := range idAction.FindAllStringSubmatch(directives, -1) {
		if id, err := strconv.Atoi(m[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}
