package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/activation"
	"github.com/gatehouse/gatehouse/internal/config"
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
	in.Inherit(passed)
	if err := in.Apply(cfg); err != nil {
		return err
	}
	if left := passed.Left(); len(left) > 0 {
		// Kept: a reload that adds their addresses takes them.
		log.Warn("sockets passed by systemd that no listener uses", "sockets", left)
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
		defer os.Remove(cfg.PIDFile)
	}
	admin, err := startAdmin(cfg.Admin, r, log)
	if err != nil {
		in.Shutdown()
		return err
	}
	metricsSrv, err := startMetrics(cfg.Metrics.Listen, r, log)
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		in.Shutdown()
		return err
	}
	reclaimCtx, stopReclaim := context.WithCancel(ctx)
	defer stopReclaim()
	go reclaim.Run(reclaimCtx, log)
	go notify.Watchdog(reclaimCtx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	log.Info("gatehouse started", "config", cfg.File, "pid", os.Getpid())
	_ = notify.Ready("serving")
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
			}
			log.Info("stopping: draining requests in flight", "signal", sig.String())
		}
		break
	}
	_ = notify.Stopping()
	for _, s := range []*http.Server{admin, metricsSrv} {
		if s != nil {
			_ = s.Close()
		}
	}
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
