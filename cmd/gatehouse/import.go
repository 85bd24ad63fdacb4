package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse/gatehouse/internal/nginximport"
)

// cmdImport is `gatehouse import nginx FILE [-o OUT] [-p PREFIX] [--strict]`: it
// writes the Gatehouse config equivalent to an nginx config and a warning
// on stderr for each directive not carried over. Exit 0 (with warnings),
// 1 when the input is not valid nginx syntax, has no server, or names
// files missing on this machine (the output is still written), 2 with
// --strict when anything was left out.
func cmdImport(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "nginx" {
		fmt.Fprintln(stderr, "usage: gatehouse import nginx FILE [-o OUT] [-p PREFIX] [--strict]")
		return 2
	}
	fs := flag.NewFlagSet("import nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the Gatehouse config to this file (default: stdout)")
	strict := fs.Bool("strict", false, "exit 2 when anything was left out")
	prefix := fs.String("p", "", "resolve relative paths (includes, roots, certificates) against this directory, as nginx -p")
	// Flags may come before or after the file.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "usage: gatehouse import nginx FILE [-o OUT] [-p PREFIX] [--strict]")
		return 2
	}
	res, err := nginximport.Import(files[0], nginximport.Options{Prefix: *prefix})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse import: %v\n", err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, w)
	}
	if *out != "" {
		if err := os.WriteFile(*out, res.YAML, 0o644); err != nil {
			fmt.Fprintf(stderr, "gatehouse import: %v\n", err)
			return 1
		}
	} else if _, err := stdout.Write(res.YAML); err != nil {
		return 1
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(stderr, "gatehouse import: what the config names is missing on this machine:\n%s\n", strings.Join(res.Missing, "\n"))
		return 1
	}
	if *out != "" {
		fmt.Fprintf(stderr, "gatehouse import: wrote %s (%d warnings)\n", *out, len(res.Warnings))
	}
	if *strict && len(res.Warnings) > 0 {
		return 2
	}
	return 0
}
