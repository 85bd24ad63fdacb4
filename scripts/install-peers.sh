#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: the real peers it runs
# against (Gunicorn and nginx from Debian) and the linters (staticcheck). Safe to run
# again; it installs only what is missing.
set -euo pipefail

STATICCHECK_VERSION=v0.7.0

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v gunicorn >/dev/null 2>&1 || missing+=(gunicorn)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
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
