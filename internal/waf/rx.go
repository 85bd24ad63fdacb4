package waf

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	re2 "github.com/wasilibs/go-re2"
	"rsc.io/binaryregexp"
)

// The @rx operator, replaced: Coraza's runs Go's regexp package, whose
// NFA costs most of the CRS's time on long values (a 100 KB form spent
// 200-400 ms in @rx, mostly in the big command-injection patterns of
// REQUEST-932). RE2 (go-re2, compiled to Go, no cgo) runs them as a DFA.
// Short values, where Go's engine is the faster, still go to it; values
// that are not valid UTF-8 reach RE2 with each bad byte replaced by
// U+FFFD, as Go's engine reads them, so matching is the same as Coraza's
// own.
//
// Coraza's operators are a process-wide registry; this registration is
// the one piece of package state, made once when the package loads.
func init() {
	plugins.RegisterOperator("rx", newRX)
}

// shortValue is the length up to which Go's engine is used.
const shortValue = 32

type rx struct {
	std *regexp.Regexp
	re2 *re2.Regexp
	// pre, when set, answers most values that cannot match without an
	// engine.
	pre *prefilter
}

type binaryRX struct{ re *binaryregexp.Regexp }

// compiled memoizes patterns across rule sets (each policy compiles the
// CRS again; the patterns are the same).
var compiled sync.Map // pattern -> *rx

func newRX(options plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	// Coraza compiles with dot-all and multi-line on; so do we.
	pattern := "(?sm)" + options.Arguments
	if matchesArbitraryBytes(pattern) {
		re, err := binaryregexp.Compile(options.Arguments)
		if err != nil {
			return nil, err
		}
		return &binaryRX{re}, nil
	}
	if o, ok := compiled.Load(pattern); ok {
		return o.(*rx), nil
	}
	std, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	fast, err := re2.Compile(pattern)
	if err != nil {
		// A pattern RE2 refuses runs on Go's engine alone.
		fast = nil
	}
	o := &rx{std: std, re2: fast, pre: newPrefilter(pattern)}
	compiled.Store(pattern, o)
	return o, nil
}

// Evaluate matches value, capturing the groups (TX.0-TX.8) when the rule
// asks: the capturing search only runs once a match is known.
func (o *rx) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if o.pre != nil && !o.pre.mayMatch(value) {
		return false
	}
	useRE2 := o.re2 != nil && len(value) > shortValue
	if useRE2 && !utf8.ValidString(value) {
		// RE2 stops at the first invalid byte; Go's engine reads each
		// as U+FFFD. So does RE2 once the bytes are replaced (captures
		// then hold U+FFFD where the value had the byte).
		value = replaceInvalidUTF8(value)
	}
	if !tx.Capturing() {
		if useRE2 {
			return o.re2.MatchString(value)
		}
		return o.std.MatchString(value)
	}
	var match []int
	if useRE2 {
		match = o.re2.FindStringSubmatchIndex(value)
	} else if o.std.MatchString(value) {
		// Go's engine tracks groups at a cost: most values do not
		// match, and those are found out without.
		match = o.std.FindStringSubmatchIndex(value)
	}
	if match == nil {
		return false
	}
	for i := 0; i < len(match)/2 && i < 9; i++ {
		if match[2*i] >= 0 {
			tx.CaptureField(i, value[match[2*i]:match[2*i+1]])
		} else {
			tx.CaptureField(i, "")
		}
	}
	return true
}

// Evaluate matches value byte by byte.
func (o *binaryRX) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if !tx.Capturing() {
		return o.re.MatchString(value)
	}
	match := o.re.FindStringSubmatch(value)
	if len(match) == 0 {
		return false
	}
	for i, c := range match {
		if i == 9 {
			break
		}
		tx.CaptureField(i, c)
	}
	return true
}

// replaceInvalidUTF8 replaces each byte of s that is not part of valid
// UTF-8 with U+FFFD, as Go's regexp engine reads it.
func replaceInvalidUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// matchesArbitraryBytes reports whether the pattern, its \xNN escapes
// decoded, is not valid UTF-8: such patterns match bytes, not text (as in
// Coraza's own @rx).
func matchesArbitraryBytes(expr string) bool {
	decoded := make([]byte, 0, len(expr))
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '\\' || i+3 >= len(expr) || expr[i+1] != 'x' {
			decoded = append(decoded, c)
			continue
		}
		sub, advance := expr[i:], 3
		if len(sub) >= 6 && sub[2] == '{' {
			if end := strings.IndexByte(sub, '}'); end != -1 {
				sub, advance = `\x`+sub[3:end], end
			}
		}
		v, mb, _, err := strconv.UnquoteChar(sub, 0)
		if err != nil || mb {
			decoded = append(decoded, c)
			continue
		}
		decoded = append(decoded, byte(v))
		i += advance
	}
	return !utf8.Valid(decoded)
}
