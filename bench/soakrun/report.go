package main

import (
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// report prints the samples, the slopes after warmup, the outcomes per
// job, and the goroutines and files before and after; it reports whether
// anything was wrong.
func report(samples []sample, warmup time.Duration, counts []harness.Counter, g0, g1, fd0, fd1 float64) (failed bool) {
	fmt.Printf("%8s %10s %11s %6s %10s\n", "time", "RSS MB", "goroutines", "fds", "requests")
	for _, s := range samples {
		fmt.Printf("%8s %10.1f %11.0f %6.0f %10.0f\n", s.at.Round(time.Second), s.rss, s.goroutines, s.fds, s.req)
	}
	var xs, rss, gs, fds []float64
	for _, s := range samples {
		if s.at >= warmup {
			xs = append(xs, s.at.Minutes())
			rss, gs, fds = append(rss, s.rss), append(gs, s.goroutines), append(fds, s.fds)
		}
	}
	if len(xs) >= 2 {
		fmt.Printf("after warm-up (%v): RSS %+.2f MB/min, goroutines %+.1f/min, fds %+.1f/min\n",
			warmup, slope(xs, rss), slope(xs, gs), slope(xs, fds))
	}
	fmt.Printf("%-26s %10s  %s\n", "traffic", "expected", "got")
	for i, j := range jobs {
		got := counts[i].Counts()
		bad := 0
		for kind, n := range got {
			if kind != j.want {
				bad += n
			}
		}
		mark := ""
		if bad > 0 || got[j.want] == 0 {
			mark, failed = "  <- unexpected", true
		}
		fmt.Printf("%-26s %10s  %s%s\n", j.name, j.want, harness.Summary(got), mark)
	}
	fmt.Printf("idle before → after: goroutines %.0f → %.0f, fds %.0f → %.0f\n", g0, g1, fd0, fd1)
	if g1 > g0 || fd1 > fd0 {
		fmt.Println("goroutines or files left behind")
		failed = true
	}
	return failed
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
