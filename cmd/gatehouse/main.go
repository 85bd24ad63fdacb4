// Command gatehouse is the Gatehouse edge server. This file only parses the
// command line; the work is done in internal/.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/memlimit"
	// WebSockets over HTTP/2: must initialize before net/http.
	"github.com/gatehouse/gatehouse/internal/server"
)

//go:embed quickstart.yaml
var quickstart []byte

const defaultConfig = "gatehouse.yaml"

const usage = `Gatehouse: an edge server in front of your app servers.

Usage:
  gatehouse run      [-c FILE]       serve FILE (default ./gatehouse.yaml, or the built-in quickstart)
  gatehouse validate [-c FILE]       check FILE; print every problem as FILE:LINE:COL: message
  gatehouse proxy --listen ADDR --to URL [--to URL ...]
                                     proxy everything on ADDR to the upstream URLs, all defaults on
  gatehouse reload   [-c FILE] [--pid FILE]
                                     make the running instance reload its config
  gatehouse upgrade  [-c FILE] [--pid FILE]
                                     replace the running instance by the binary now installed,
                                     without closing a listener (as SIGUSR2)
  gatehouse status   [-c FILE] [--json]
                                     show the upstream pools (each server's health, requests in flight,
                                     failures) and the fleet's store and members
  gatehouse maintenance on|off [-c FILE]
                                     answer every site with 503 and its maintenance page, or stop
  gatehouse cache purge [-c FILE] URL
                                     drop the cached responses of URL (ending in *: of every URL it starts)
  gatehouse patch add [-c FILE] ID 'SecRule ...'
                                     add (or replace) a WAF virtual patch; it applies within a second
  gatehouse patch list [-c FILE]     show the virtual patches and their hit counts
  gatehouse patch rm [-c FILE] ID    remove a virtual patch
  gatehouse bans list [-c FILE]      show the client addresses banned now and until when
  gatehouse bans add [-c FILE] IP [DURATION]
                                     refuse IP for DURATION (default 1h), on open connections too
  gatehouse bans rm [-c FILE] IP     lift IP's ban
  gatehouse import nginx FILE [-o OUT] [-p PREFIX] [--strict]
                                     write the Gatehouse config equivalent to an nginx config
                                     (with its includes); warnings name what was left out
  gatehouse version                  print the version
`

func main() {
	if os.Getenv("GOGC") == "" {
		// A proxy's live heap is small and its garbage is per request:
		// collecting less often buys throughput for little memory.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Within a cgroup's memory limit, the heap stays under 90% of
		// it (docs/operations.md).
		if limit, ok := memlimit.Default(); ok {
			debug.SetMemoryLimit(limit)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "proxy":
		return cmdProxy(rest, stderr)
	case "reload":
		return cmdReload(rest, stdout, stderr)
	case "upgrade":
		return cmdUpgrade(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "maintenance":
		return cmdMaintenance(rest, stdout, stderr)
	case "cache":
		return cmdCache(rest, stdout, stderr)
	case "patch":
		return cmdPatch(rest, stdout, stderr)
	case "bans":
		return cmdBans(rest, stdout, stderr)
	case "import":
		return cmdImport(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "gatehouse", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// configFlag registers -c/--config and returns a loader for it: the named
// file, else ./gatehouse.yaml, else (when allowed) the built-in quickstart.
func configFlag(fs *flag.FlagSet, allowQuickstart bool) func() (*config.Config, error) {
	path := fs.String("c", "", "config file")
	fs.StringVar(path, "config", "", "config file")
	return func() (*config.Config, error) {
		p := *path
		if p == "" {
			if _, err := os.Stat(defaultConfig); err == nil || !allowQuickstart {
				p = defaultConfig
			} else {
				return config.Parse(quickstart, "<built-in quickstart>")
			}
		}
		return config.Load(p)
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlag(fs, true)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return serve(load, stderr)
}

func cmdProxy(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8080", "address to listen on, [http://]host:port")
	var to multiFlag
	fs.Var(&to, "to", "upstream URL (repeat for several)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(to) == 0 {
		fmt.Fprintln(stderr, "gatehouse proxy: at least one --to URL is needed")
		return 2
	}
	cfg, err := config.Quick(*listen, to)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return serve(func() (*config.Config, error) { return cfg, nil }, stderr)
}

func serve(load func() (*config.Config, error), stderr io.Writer) int {
	err := server.Run(context.Background(), server.Options{Load: load, Stderr: stderr})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlag(fs, false)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: config is valid\n", cfg.File)
	return 0
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlag(fs, true)
	pidFile := fs.String("pid", "", "pid file of the running instance (instead of the admin API)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cfg *config.Config
	if *pidFile == "" {
		var err error
		if cfg, err = load(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		*pidFile = cfg.PIDFile
	}
	if cfg != nil && !cfg.Admin.Off() {
		if err := reloadViaAdmin(cfg.Admin, stdout); err == nil {
			return 0
		} else if *pidFile == "" {
			fmt.Fprintln(stderr, "gatehouse reload:", err)
			return 1
		}
	}
	if *pidFile == "" {
		fmt.Fprintln(stderr, "gatehouse reload: the config has admin: off and no pid_file; pass --pid FILE")
		return 1
	}
	if err := signalPID(*pidFile, syscall.SIGHUP); err != nil {
		fmt.Fprintln(stderr, "gatehouse reload:", err)
		return 1
	}
	fmt.Fprintln(stdout, "reload signal sent")
	return 0
}

func reloadViaAdmin(admin config.Admin, stdout io.Writer) error {
	body, err := adminCall(admin, http.MethodPost, "/reload", nil)
	if err != nil {
		return err
	}
	_, _ = stdout.Write(body)
	return nil
}

// signalPID sends sig to the process whose pid is in the file at path.
func signalPID(path string, sig syscall.Signal) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("pid file %s holds no pid", path)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	return nil
}

// cmdUpgrade asks the running instance (found by its pid file) to start
// the binary now at its path on its listening sockets and hand over.
func cmdUpgrade(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlag(fs, true)
	pidFile := fs.String("pid", "", "pid file of the running instance")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pidFile == "" {
		cfg, err := load()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		*pidFile = cfg.PIDFile
	}
	if *pidFile == "" {
		fmt.Fprintln(stderr, "gatehouse upgrade: the config has no pid_file; pass --pid FILE (or send SIGUSR2 to the process)")
		return 1
	}
	if err := signalPID(*pidFile, syscall.SIGUSR2); err != nil {
		fmt.Fprintln(stderr, "gatehouse upgrade:", err)
		return 1
	}
	fmt.Fprintln(stdout, "upgrade signal sent: the pid file names the new process once it serves")
	return 0
}

// version is the module version stamped by the Go toolchain, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
