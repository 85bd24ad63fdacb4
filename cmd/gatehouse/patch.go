package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// cmdPatch runs `gatehouse patch add ID RULE | list | rm ID` against the
// running instance's admin API.
func cmdPatch(args []string, stdout, stderr io.Writer) int {
	const use = "usage: gatehouse patch add [-c FILE] ID 'SecRule ...' | list [-c FILE] | rm [-c FILE] ID"
	c, ok := parseAdminSubcommand("patch", use, args, stderr)
	if !ok {
		return 2
	}
	sub, fs, admin, fail := c.sub, c.fs, c.admin, c.fail
	switch {
	case sub == "add" && fs.NArg() == 2:
		_, err := adminCall(admin, http.MethodPost, "/waf/patches", server.PatchRequest{ID: fs.Arg(0), Rule: fs.Arg(1)})
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "patch %s applied\n", fs.Arg(0))
	case sub == "list" && fs.NArg() == 0:
		body, err := adminCall(admin, http.MethodGet, "/waf/patches", nil)
		if err != nil {
			return fail(err)
		}
		var list []waf.Patch
		if err := json.Unmarshal(body, &list); err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHITS\tRULE")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", p.ID, p.Hits, strings.Join(strings.Fields(p.Rule), " "))
		}
		_ = tw.Flush()
	case sub == "rm" && fs.NArg() == 1:
		if _, err := adminCall(admin, http.MethodDelete, "/waf/patches/"+url.PathEscape(fs.Arg(0)), nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "patch %s removed\n", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, use)
		return 2
	}
	return 0
}
