//go:build !linux

package main

import "errors"

// serveLoops is Linux only.
func serveLoops(string, int) error { return errors.New("-loops is for Linux") }
