// Package e2e holds Gatehouse's end-to-end tests: they build the real
// binary, run it against real upstreams (Gunicorn with sync workers, and
// small recording servers where a test must see raw bytes), and talk to it
// with real HTTP clients and raw sockets. scripts/test.sh installs the peers.
package e2e
