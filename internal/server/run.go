package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/activation"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/quicsteer"
	"github.com/gatehouse/gatehouse/internal/reclaim"
	"github.com/gatehouse/gatehouse/internal/sdnotify"
)

// Options configure Run.
type Options struct {
	// Load reads the config; it is called at start and on every reload.
	Load func() (*config.Config, error)
	// Stderr receives the error log.
	Stderr io.Writer
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives, reloading on SIGHUP
// and on POST /reload to the admin address, and reopening the access log
// file on SIGUSR1 (log rotation).
func Run(ctx context.Context, opt Options) error {
	closeReadyFDOnExec()
	// Caught before any listener opens: a signal sent as soon as the port
	// answers (a reload, an upgrade) waits here until the loop below takes
	// it, where Go would otherwise drop it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	cfg, err := opt.Load()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, opt.Stderr)
	in := NewInstance(log)
	passed, err := activation.FromEnv()
	if err != nil {
		return err
	}
	defer passed.Close()
	in.Inherit(passed, quicsteer.TagFromEnv())
	if err := in.Apply(cfg); err != nil {
		return err
	}
	in.Metrics().Reloaded(nil)
	notify, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd notifications off", "error", err)
	}
	defer notify.Close()
	r := &reloader{in: in, load: opt.Load, log: log, level: level, notify: notify}
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			in.Shutdown()
			return fmt.Errorf("write pid file: %w", err)
		}
		defer removePIDFile(cfg.PIDFile)
	}
	admin, err := startAdmin(cfg.Admin, r, passed, log)
	if err != nil {
		in.Shutdown()
		return err
	}
	metricsSrv, err := startMetrics(cfg.Metrics.Listen, r, passed, log)
	if err != nil {
		admin.Close()
		in.Shutdown()
		return err
	}
	if left := passed.Left(); len(left) > 0 {
		// Kept: a reload that adds their addresses takes them.
		log.Warn("sockets passed to this process that no listener uses", "sockets", left)
	}
	reclaimCtx, stopReclaim := context.WithCancel(ctx)
	defer stopReclaim()
	go reclaim.Run(reclaimCtx, log)
	go notify.Watchdog(reclaimCtx)
	log.Info("gatehouse started", "config", cfg.File, "pid", os.Getpid())
	upgraded := false
	predecessor := startedByUpgrade()
	_ = notify.Ready("serving")
	sayServing()
	for {
		select {
		case <-ctx.Done():
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				_ = r.reload()
				continue
			case syscall.SIGUSR1:
				if err := in.ReopenLogs(); err != nil {
					log.Error("access log not reopened", "error", err)
				} else {
					log.Info("access log reopened")
				}
				continue
			case syscall.SIGUSR2:
				pid, err := handOver(in, admin, metricsSrv, predecessor, log)
				if err != nil {
					log.Error("upgrade failed; this process keeps serving", "error", err)
					continue
				}
				// systemd follows the new process from here on.
				_ = notify.Send("MAINPID="+strconv.Itoa(pid), "STATUS=upgraded: the new process serves")
				log.Info("upgrade: the new process serves; this one drains and exits", "new_pid", pid)
				upgraded = true
				in.handedOver.Store(true)
			default:
				log.Info("stopping: draining requests in flight", "signal", sig.String())
			}
		}
		break
	}
	if !upgraded {
		_ = notify.Stopping()
	}
	admin.Close()
	metricsSrv.Close()
	in.Shutdown()
	log.Info("gatehouse stopped")
	return nil
}

// reloader loads and applies a new config, one reload at a time.
type reloader struct {
	mu    sync.Mutex
	in    *Instance
	load  func() (*config.Config, error)
	log   *slog.Logger
	level *slog.LevelVar
	// notify tells systemd a reload started and ended (nil outside it).
	notify *sdnotify.Notifier
}

// reload applies the config as it now stands; on failure the running config
// stays and the problems are logged and returned.
func (r *reloader) reload() (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.notify.Reloading()
	defer func() {
		status := "serving"
		if err != nil {
			status = "serving the previous config: reload failed: " + err.Error()
		}
		_ = r.notify.Ready(status)
	}()
	cfg, err := r.load()
	if err == nil {
		err = r.in.Apply(cfg)
	}
	r.in.Metrics().Reloaded(err)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				r.log.Error("reload: config problem", "problem", p.String())
			}
		}
		r.log.Error("reload failed; the running config stays in place", "error", err)
		return err
	}
	r.level.Set(parseLevel(cfg.Log.Level))
	r.log.Info("config reloaded", "config", cfg.File)
	return nil
}

func newLogger(c config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// handOver starts the new binary on this process's sockets (SIGUSR2, a
// zero-downtime upgrade) and returns its PID once it serves. Not while
// the process this one replaced (predecessor, 0 if none) still drains:
// its HTTP/3 datagrams are steered by a program that knows two
// processes, not three.
func handOver(in *Instance, admin, metricsSrv *sideServer, predecessor int, log *slog.Logger) (int, error) {
	if predecessor != 0 && os.Getppid() == predecessor {
		return 0, fmt.Errorf("the process this one replaced (pid %d) still drains its connections: upgrade again once it has exited", predecessor)
	}
	files, err := in.listenerFiles(admin.listener(), metricsSrv.listener())
	if err != nil {
		return 0, err
	}
	defer closeFiles(files)
	return startSuccessor(files, in.quicTag.Next(), log)
}

// removePIDFile removes the pid file if it still names this process (after
// an upgrade it names the new one).
func removePIDFile(path string) {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}
