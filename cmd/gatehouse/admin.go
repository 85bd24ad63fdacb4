package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/server"
)

// adminCall sends a request (with a JSON body, when body is not nil) to
// the running instance's admin API and returns the body of a 200 answer.
func adminCall(admin config.Admin, method, path string, body any) ([]byte, error) {
	addr := admin.Addr()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, in)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin.Token != "" {
		req.Header.Set("Authorization", "Bearer "+admin.Token)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the admin API at %s: %w", addr, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if res.StatusCode/100 != 2 {
		return nil, errors.New(strings.TrimSpace(string(out)))
	}
	return out, nil
}

// adminAddr parses the flags of an admin command and returns the admin
// settings of the config.
func adminAddr(name string, fs *flag.FlagSet, args []string, stderr io.Writer) (config.Admin, bool) {
	load := configFlag(fs, true)
	if err := fs.Parse(args); err != nil {
		return config.Admin{}, false
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return config.Admin{}, false
	}
	if cfg.Admin.Off() {
		fmt.Fprintf(stderr, "gatehouse %s: the config has admin: off; the admin API is needed\n", name)
		return config.Admin{}, false
	}
	return cfg.Admin, true
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the admin API's JSON")
	addr, ok := adminAddr("status", fs, args, stderr)
	if !ok {
		return 2
	}
	body, err := adminCall(addr, http.MethodGet, "/status", nil)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse status:", err)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintln(stderr, "gatehouse status:", err)
		return 1
	}
	printStatus(stdout, st)
	return 0
}

// printStatus renders the status as a table per pool.
func printStatus(w io.Writer, st server.Status) {
	if st.Maintenance {
		fmt.Fprintln(w, "maintenance: on (every site answers 503)")
	}
	if len(st.Pools) == 0 {
		fmt.Fprintln(w, "no upstream pools")
	}
	for i, p := range st.Pools {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "pool %s (%s)\n", p.Name, p.Balance)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVER\tSTATE\tWEIGHT\tIN FLIGHT\tREQUESTS\tFAILURES\tLAST ERROR")
		for _, s := range p.Servers {
			state := s.State
			if s.Backup {
				state += ", backup"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.URL, state, s.Weight, s.InFlight, s.Requests, s.Failures, s.LastError)
		}
		_ = tw.Flush()
	}
	if fs := st.Store; fs != nil {
		state := "up"
		if !fs.Up {
			state = "DOWN (serving on_failure: " + fs.OnFailure + ")"
		}
		fmt.Fprintf(w, "\nstore: %s, this instance %s, %d failed calls\n", state, fs.Name, fs.Errors)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MEMBER\tLAST SEEN")
		for _, m := range fs.Members {
			name := m.Name
			if m.Self {
				name += " (this one)"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, m.Seen.Format(time.RFC3339))
		}
		_ = tw.Flush()
	}
}

func cmdMaintenance(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "on" && args[0] != "off") {
		fmt.Fprintln(stderr, "usage: gatehouse maintenance on|off [-c FILE]")
		return 2
	}
	fs := flag.NewFlagSet("maintenance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr, ok := adminAddr("maintenance", fs, args[1:], stderr)
	if !ok {
		return 2
	}
	body, err := adminCall(addr, http.MethodPost, "/maintenance/"+args[0], nil)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse maintenance:", err)
		return 1
	}
	_, _ = stdout.Write(body)
	return 0
}

// cmdCache runs `gatehouse cache purge [-c FILE] URL`: the running
// instance drops what it stores for URL (a URL ending in * is a prefix).
func cmdCache(args []string, stdout, stderr io.Writer) int {
	const use = "usage: gatehouse cache purge [-c FILE] URL   (a URL ending in * purges every URL it starts)"
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprintln(stderr, use)
		return 2
	}
	fs := flag.NewFlagSet("cache purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin, ok := adminAddr("cache purge", fs, args[1:], stderr)
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, use)
		return 2
	}
	req := server.PurgeRequest{URL: fs.Arg(0)}
	if p, ok := strings.CutSuffix(req.URL, "*"); ok {
		req = server.PurgeRequest{Prefix: p}
	}
	body, err := adminCall(admin, http.MethodPost, "/cache/purge", req)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse cache purge:", err)
		return 1
	}
	var res server.PurgeResponse
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintln(stderr, "gatehouse cache purge:", err)
		return 1
	}
	fmt.Fprintf(stdout, "purged %d\n", res.Purged)
	return 0
}

// adminSubcommand is a parsed `gatehouse NAME SUB [-c FILE] ARGS...` of
// the commands that drive the admin API (patch, bans).
type adminSubcommand struct {
	name, sub string
	fs        *flag.FlagSet
	admin     config.Admin
	stderr    io.Writer
}

// parseAdminSubcommand parses args after NAME; on a missing subcommand
// or bad flags it prints use and returns false.
func parseAdminSubcommand(name, use string, args []string, stderr io.Writer) (*adminSubcommand, bool) {
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return nil, false
	}
	c := &adminSubcommand{name: name, sub: args[0], stderr: stderr}
	c.fs = flag.NewFlagSet(name+" "+c.sub, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	var ok bool
	if c.admin, ok = adminAddr(name+" "+c.sub, c.fs, args[1:], stderr); !ok {
		return nil, false
	}
	return c, true
}

// fail reports err and returns the exit code of a failed call.
func (c *adminSubcommand) fail(err error) int {
	fmt.Fprintf(c.stderr, "gatehouse %s %s: %v\n", c.name, c.sub, err)
	return 1
}
