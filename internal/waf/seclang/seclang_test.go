package seclang

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	good := `SecRule ARGS:q "@contains attack" "id:1001,phase:2,deny,status:403,log,msg:'blocked q'"`
	if err := Check(good); err != nil {
		t.Fatalf("good rule refused: %v", err)
	}
	for _, bad := range []string{
		`SecRule ARGS:q "@nosuchop x" "id:1002,phase:2,deny"`,
		`SecRule ARGS:q "@contains x" "phase:2,deny"`,
		`NotADirective foo`,
	} {
		if err := Check(bad); err == nil {
			t.Errorf("bad rule accepted: %s", bad)
		}
	}
}

func TestOnlyRules(t *testing.T) {
	ok := "SecRule ARGS \"@rx a\" \"id:12,phase:1,deny,chain\"\n  SecRule ARGS \"@rx b\" \\\n    \"t:none\"\n# a comment\nSecAction \"id:13,pass\""
	if err := OnlyRules(ok); err != nil {
		t.Fatalf("rules refused: %v", err)
	}
	for _, bad := range []string{"Include /etc/passwd", "SecRuleEngine Off", "SecRule ARGS \"@rx a\" \"id:1,deny\"\nSecRequestBodyAccess Off"} {
		if err := OnlyRules(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestRuleIDs(t *testing.T) {
	text := `SecRule ARGS "@rx a" "id:12,phase:1,deny,chain"
	  SecRule ARGS "@rx b" "t:none"
SecRule REQUEST_URI "@beginsWith /x" "id:'13',phase:1,deny,msg:'valid:4'"`
	if got := RuleIDs(text); !slices.Equal(got, []int{12, 13}) {
		t.Fatalf("RuleIDs = %v", got)
	}
	if got := RuleIDs(strings.Repeat(" ", 3)); got != nil {
		t.Fatalf("RuleIDs(blank) = %v", got)
	}
}

func FuzzRuleIDs(f *testing.F) {
	f.Add(`SecRule ARGS "@rx a" "id:12,phase:1,deny"`)
	f.Add(`SecAction "id:'900000',pass"`)
	f.Fuzz(func(t *testing.T, text string) {
		for _, id := range RuleIDs(text) {
			if id < 0 {
				t.Fatalf("negative id %d from %q", id, text)
			}
		}
		_ = OnlyRules(text)
		_ = Check(text)
	})
}
