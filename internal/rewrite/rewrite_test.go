package rewrite

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestRulesApplyInOrderWithQueries(t *testing.T) {
	rs, err := Compile([]config.RewriteRule{
		{From: "^/api/v1/(.*)$", To: "/v2/$1"},
		{From: "^/v2/old/(.*)$", To: "/v2/new/$1?legacy=1"},
		{From: "^/drop$", To: "/dropped?"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, query, wantPath, wantQuery string }{
		{"/api/v1/users", "a=1", "/v2/users", "a=1"},
		{"/api/v1/old/x", "a=1", "/v2/new/x", "legacy=1&a=1"},
		{"/api/v1/old/x", "", "/v2/new/x", "legacy=1"},
		{"/drop", "a=1", "/dropped", ""},
		{"/other", "a=1", "/other", "a=1"},
	}
	for _, c := range cases {
		p, q, _ := rs.Apply(c.path, c.query)
		if p != c.wantPath || q != c.wantQuery {
			t.Errorf("%s?%s: got %s?%s, want %s?%s", c.path, c.query, p, q, c.wantPath, c.wantQuery)
		}
	}
	if _, err := Compile([]config.RewriteRule{{From: "^/(a)$", To: "/$2"}}); err == nil {
		t.Error("a reference to a missing group was accepted")
	}
}
