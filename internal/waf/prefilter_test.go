package waf

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/config"
)

// sample writes a string that re may match: literals (their case
// shuffled, and k and s as the Kelvin and long-s signs now and then, when
// folded), a rune of each class, a few repetitions, one branch of each
// alternation.
func sample(rng *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				switch n := rng.IntN(8); {
				case n == 0 && unicode.ToLower(r) == 'k':
					r = '\u212a'
				case n == 0 && unicode.ToLower(r) == 's':
					r = '\u017f'
				case n < 4:
					r = unicode.ToUpper(r)
				}
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) >= 2 {
			i := rng.IntN(len(re.Rune)/2) * 2
			lo, hi := re.Rune[i], min(re.Rune[i+1], re.Rune[i]+64)
			b.WriteRune(lo + rune(rng.IntN(int(hi-lo)+1)))
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte("aZ0 <'\"/;("[rng.IntN(10)])
	case syntax.OpCapture:
		sample(rng, re.Sub[0], b)
	case syntax.OpStar, syntax.OpQuest, syntax.OpPlus, syntax.OpRepeat:
		lo, hi := 0, 2
		switch re.Op {
		case syntax.OpQuest:
			hi = 1
		case syntax.OpPlus:
			lo = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, max(re.Min, min(re.Max, re.Min+2))
			if re.Max < 0 {
				hi = re.Min + 2
			}
		}
		for range lo + rng.IntN(hi-lo+1) {
			sample(rng, re.Sub[0], b)
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			sample(rng, s, b)
		}
	case syntax.OpAlternate:
		sample(rng, re.Sub[rng.IntN(len(re.Sub))], b)
	}
}

// TestPrefilterNeverRefusesAMatch compiles the CRS, then for each of its
// @rx patterns that has a prefilter writes many strings it may match, in
// surroundings of other text: every one Go's regexp matches, the
// prefilter must let through.
func TestPrefilterNeverRefusesAMatch(t *testing.T) {
	p := &config.WAFPolicy{Block: true, Paranoia: 4, Inbound: 5, Outbound: 4, BodyLimit: config.DefaultWAFBodyLimit, Responses: true}
	testHandler(t, NewLibrary(slog.New(slog.NewTextHandler(io.Discard, nil))), p, http.NotFoundHandler())
	rng := rand.New(rand.NewPCG(1, 2))
	patterns, filtered, matched := 0, 0, 0
	compiled.Range(func(k, v any) bool {
		pattern, o := k.(string), v.(*rx)
		patterns++
		if o.pre == nil {
			return true
		}
		filtered++
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		std := regexp.MustCompile(pattern)
		for range 200 {
			var b strings.Builder
			if rng.IntN(2) == 0 {
				b.WriteString("some text AROUND ")
			}
			sample(rng, re, &b)
			if rng.IntN(2) == 0 {
				b.WriteString(" and after")
			}
			v := b.String()
			if !std.MatchString(v) {
				continue
			}
			matched++
			if !o.pre.mayMatch(v) {
				t.Fatalf("%q matches %q, the prefilter %+v says it cannot", pattern, v, o.pre.lits)
			}
		}
		return true
	})
	t.Logf("%d patterns, %d with a prefilter, %d matching samples checked", patterns, filtered, matched)
	if filtered < patterns/2 || matched < filtered*50 {
		t.Fatalf("too little checked: %d patterns, %d filtered, %d matches", patterns, filtered, matched)
	}
}

func TestPrefilterFoldsOnlyASCII(t *testing.T) {
	p := newPrefilter("(?sm)(?i)kill|sleep")
	for v, want := range map[string]bool{"KILL it": true, "go to Sleep": true, "nothing": false, "\u212aill": true, "caf\u00e9": true} {
		if got := p.mayMatch(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
	if newPrefilter("(?i)a*") != nil || newPrefilter("x?y?") != nil || newPrefilter("\uFFFD") != nil {
		t.Error("a prefilter where no literal is required")
	}
}
