#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: the real peers it runs
# against (Gunicorn, uWSGI with its Python plugin, php-fpm, nginx and
# HAProxy from Debian; htpasswd from apache2-utils; curl, wrk, gtlsclient for HTTP/3, testssl.sh and headless Chromium as
# clients; h2spec; promtool from Debian's prometheus to check /metrics; Node
# and the HTTP caching test suite, pinned in e2e/cachetests; systemd's
# systemd-socket-activate), and the
# linters (staticcheck). Safe to run again; it installs only what is
# missing.
set -euo pipefail

STATICCHECK_VERSION=v0.7.0
H2SPEC_VERSION=v2.2.1+incompatible

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v gunicorn >/dev/null 2>&1 || missing+=(gunicorn)
command -v uwsgi >/dev/null 2>&1 || missing+=(uwsgi)
[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || missing+=(uwsgi-plugin-python3)
compgen -G '/usr/sbin/php-fpm*' >/dev/null || missing+=(php-fpm)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v gtlsclient >/dev/null 2>&1 || missing+=(ngtcp2-client)
command -v testssl >/dev/null 2>&1 || missing+=(testssl.sh)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v systemd-socket-activate >/dev/null 2>&1 || missing+=(systemd)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
	echo "installing staticcheck $STATICCHECK_VERSION"
	GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if [ ! -x "$gobin/h2spec" ]; then
	echo "installing h2spec $H2SPEC_VERSION"
	GOFLAGS= go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION"
fi

# The HTTP caching test suite (http-cache-tests, pinned by the lock file).
cachetests="$(dirname "$0")/../e2e/cachetests"
if [ ! -e "$cachetests/node_modules/http-cache-tests/package.json" ] ||
	! cmp -s "$cachetests/package-lock.json" "$cachetests/node_modules/.gatehouse-lock"; then
	echo "installing http-cache-tests (npm ci)"
	(cd "$cachetests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
		cp package-lock.json node_modules/.gatehouse-lock)
fi
