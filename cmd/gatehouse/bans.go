package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/server"
)

// cmdBans runs `gatehouse bans list | add IP [DURATION] | rm IP` against
// the running instance's admin API.
func cmdBans(args []string, stdout, stderr io.Writer) int {
	const use = "usage: gatehouse bans list [-c FILE] | add [-c FILE] IP [DURATION] | rm [-c FILE] IP"
	c, ok := parseAdminSubcommand("bans", use, args, stderr)
	if !ok {
		return 2
	}
	sub, fs, admin, fail := c.sub, c.fs, c.admin, c.fail
	switch {
	case sub == "list" && fs.NArg() == 0:
		body, err := adminCall(admin, http.MethodGet, "/bans", nil)
		if err != nil {
			return fail(err)
		}
		var list []bans.Entry
		if err := json.Unmarshal(body, &list); err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IP\tEXPIRES\tLEFT")
		for _, b := range list {
			left := time.Until(b.Expires).Round(time.Second)
			fmt.Fprintf(tw, "%s\t%s\t%s\n", b.IP, b.Expires.Format(time.RFC3339), max(left, 0))
		}
		_ = tw.Flush()
	case sub == "add" && (fs.NArg() == 1 || fs.NArg() == 2):
		req := server.BanRequest{IP: fs.Arg(0), Duration: fs.Arg(1)}
		body, err := adminCall(admin, http.MethodPost, "/bans", req)
		if err != nil {
			return fail(err)
		}
		var b bans.Entry
		if err := json.Unmarshal(body, &b); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s banned until %s\n", b.IP, b.Expires.Format(time.RFC3339))
	case sub == "rm" && fs.NArg() == 1:
		if _, err := adminCall(admin, http.MethodDelete, "/bans/"+url.PathEscape(fs.Arg(0)), nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s unbanned\n", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, use)
		return 2
	}
	return 0
}
