package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// spoolDisk is a small tmpfs the spool lives on, so that it can be filled.
type spoolDisk struct {
	dir    string
	filler string
}

// newSpoolDisk mounts a tmpfs of mib MiB under parent (as root, or
// through sudo).
func newSpoolDisk(parent string, mib int) (*spoolDisk, error) {
	d := &spoolDisk{dir: filepath.Join(parent, "spool")}
	d.filler = filepath.Join(d.dir, "filler")
	if err := os.Mkdir(d.dir, 0o755); err != nil {
		return nil, err
	}
	if err := asRoot("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", d.dir); err != nil {
		return nil, fmt.Errorf("mount a tmpfs for the spool-disk-full fault: %w", err)
	}
	return d, nil
}

func (d *spoolDisk) close() { _ = asRoot("umount", "-l", d.dir) }

// fill writes a file until the disk is full.
func (d *spoolDisk) fill() error {
	f, err := os.Create(d.filler)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, harness.Zeros{})
	if !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("filling the spool disk: %v", err)
	}
	return nil
}

// free removes what fill wrote.
func (d *spoolDisk) free() error { return os.Remove(d.filler) }

// asRoot runs a command, through sudo when not root.
func asRoot(args ...string) error {
	if os.Geteuid() != 0 {
		args = append([]string{"sudo", "-n"}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w: %s", args, err, out)
	}
	return nil
}

// diskFullScenario fills the spool's disk: uploads (2 MB, more than
// buffering.memory holds) must get 503 with nothing corrupt reaching the
// upstream, downloads must stream through whole; once space returns,
// uploads must pass again.
func diskFullScenario(d *spoolDisk, ups *upstreams, n int) scenario {
	return scenario{name: "machine: spool disk full", expect: []string{"full: upload 503", "full: download 200", "freed: upload 200"}, run: func(e *env) outcomes {
		var c counter
		if err := d.fill(); err != nil {
			c.add(err.Error())
			return c.outcomes("")
		}
		corrupt0 := ups.corrupt.Load()
		parallel(n, n, func(int) { c.add("full: upload " + upload(e, 2<<20)) })
		parallel(n, n, func(int) { c.add("full: download " + download(e, 2<<20)) })
		if err := d.free(); err != nil {
			c.add(err.Error())
		}
		parallel(n, n, func(int) { c.add("freed: upload " + upload(e, 2<<20)) })
		return c.outcomes(fmt.Sprintf("%d corrupt uploads reached the upstream", ups.corrupt.Load()-corrupt0))
	}}
}

// upload posts size random bytes with their sum in X-Sum, which the
// upstream checks.
func upload(e *env, size int) string {
	body := make([]byte, size)
	_, _ = rand.Read(body)
	sum := sha256.Sum256(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/upload", bytes.NewReader(body))
	req.Header.Set("X-Sum", hex.EncodeToString(sum[:]))
	res, err := e.client.Do(req)
	if err != nil {
		return harness.Failure(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return fmt.Sprint(res.StatusCode)
}

// download gets size bytes of the upstream's pattern and checks them.
func download(e *env, size int) string {
	res, err := e.client.Get(fmt.Sprintf("http://%s/download/%d", e.addr, size))
	if err != nil {
		return harness.Failure(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	want, _ := io.ReadAll(io.LimitReader(&harness.Pattern{}, int64(size)))
	if err != nil || string(got) != string(want) {
		return fmt.Sprintf("%d corrupt (%d bytes, %v)", res.StatusCode, len(got), err)
	}
	return fmt.Sprint(res.StatusCode)
}

// reloadStormScenario reloads every 100 ms for d, the config file
// alternately garbage (a different kind each time) and valid, under load:
// no request may fail, and the last valid config must be in force.
func reloadStormScenario(d time.Duration) scenario {
	return scenario{name: "machine: reload storm, half garbage", expect: []string{"200", "last config in force"}, run: func(e *env) outcomes {
		var c counter
		ok0, _ := e.Metric(`gatehouse_config_reloads_total{result="success"} `, `gatehouse_config_reloads_total{result="failure"} `)
		stop := make(chan struct{})
		var storms atomic.Int64
		done := make(chan struct{})
		marker := 0
		go func() {
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				text := garbage(e, i/2)
				if i%2 == 1 {
					marker++
					text = e.config(marker)
				}
				_ = os.WriteFile(e.cfg, []byte(text), 0o644)
				_ = e.Reload()
				storms.Add(1)
			}
		}()
		deadline := time.Now().Add(d)
		paths := []string{"/ok", "/hello", "/marker"}
		parallel(8, 8, func(w int) {
			for time.Now().Before(deadline) {
				c.add(get(e.client, "http://"+e.addr+paths[w%len(paths)]))
			}
		})
		close(stop)
		<-done
		// The last word: a valid config, and it must be the one answering.
		marker++
		_ = os.WriteFile(e.cfg, []byte(e.config(marker)), 0o644)
		_ = e.Reload()
		c.add(awaitMarker(e, marker))
		ok1, _ := e.Metric(`gatehouse_config_reloads_total{result="success"} `, `gatehouse_config_reloads_total{result="failure"} `)
		return c.outcomes(fmt.Sprintf("%d reloads: %.0f applied, %.0f refused", storms.Load()+1, ok1[0]-ok0[0], ok1[1]-ok0[1]))
	}}
}

// awaitMarker waits up to 5 s for /marker to answer marker.
func awaitMarker(e *env, marker int) string {
	want := fmt.Sprintf("%d\n", marker)
	for range 50 {
		if res, err := e.client.Get("http://" + e.addr + "/marker"); err == nil {
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if string(b) == want {
				return "last config in force"
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "stale config"
}

// garbage is a broken config of kind k (of several): random bytes, bad
// YAML, an unknown key, a bad value, a port that cannot be listened on,
// half a valid file.
func garbage(e *env, k int) string {
	valid := e.config(0)
	switch k % 6 {
	case 0:
		b := make([]byte, 512)
		_, _ = rand.Read(b)
		return string(b)
	case 1:
		return "sites: [ {listen: [\n"
	case 2:
		return valid + "no_such_key: 1\n"
	case 3:
		return "sites:\n  - listen: [\"" + e.addr + "\"]\n    routes:\n      - path: /\n        proxy: {to: \"not a url\"}\n"
	case 4:
		return valid + "  - listen: [\"192.0.2.1:1\"]\n    routes: [{path: /, respond: {body: x}}]\n"
	default:
		return valid[:len(valid)/2]
	}
}
