package waf

import (
	"regexp"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// captureState is the part of a transaction @rx uses.
type captureState struct {
	plugintypes.TransactionState
	capturing bool
	fields    map[int]string
}

func (c *captureState) Capturing() bool { return c.capturing }
func (c *captureState) CaptureField(i int, v string) {
	if c.fields == nil {
		c.fields = map[int]string{}
	}
	c.fields[i] = v
}

// rxPatterns are CRS-like patterns: alternations, classes, anchors,
// groups, case folding.
var rxPatterns = []string{
	`(?i)(?:\b(?:(?:n(?:et(?:\s+(?:localgroup|user)|sh)|map)|s(?:c\s+query|ystem)|cmd|powershell)\b))`,
	`(?i)<script[^>]*>[\s\S]*?`,
	`^[\d.:]+$`,
	`(?:^|[^\\])\\\\[cdeghijklmpqwxyz123456789]`,
	`(?i)(union)(.*?)(select)`,
	`[^\x00-\x7f]{2}`,
	`.{3}$`,
}

func TestRXMatchesGoRegexp(t *testing.T) {
	values := []string{"", "net user admin", "<SCRIPT src=x>", "127.0.0.1", "a UNION all SELECT b",
		strings.Repeat("v", 300) + " UNION SELECT", strings.Repeat("x", 200) + "\xff\xfe", "\xff\xff" + strings.Repeat("y", 100) + "ab\xff"}
	for _, p := range rxPatterns {
		op, err := newRX(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			t.Fatal(err)
		}
		std := regexp.MustCompile("(?sm)" + p)
		for _, v := range values {
			for _, capturing := range []bool{false, true} {
				st := &captureState{capturing: capturing}
				if got, want := op.Evaluate(st, v), std.MatchString(v); got != want {
					t.Errorf("%q on %q (capturing %v): %v, Go's regexp says %v", p, v, capturing, got, want)
				}
			}
		}
	}
}

func FuzzRX(f *testing.F) {
	f.Add("net user x", 0)
	f.Add(strings.Repeat("a", 200)+"\xffUNION SELECT", 4)
	ops := make([]plugintypes.Operator, len(rxPatterns))
	stds := make([]*regexp.Regexp, len(rxPatterns))
	for i, p := range rxPatterns {
		op, err := newRX(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			f.Fatal(err)
		}
		ops[i], stds[i] = op, regexp.MustCompile("(?sm)"+p)
	}
	f.Fuzz(func(t *testing.T, v string, n int) {
		i := uint(n) % uint(len(ops))
		st := &captureState{capturing: n%2 == 0}
		if got, want := ops[i].Evaluate(st, v), stds[i].MatchString(v); got != want {
			t.Fatalf("%q on %q: %v, Go's regexp says %v", rxPatterns[i], v, got, want)
		}
	})
}
