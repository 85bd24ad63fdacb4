#!/usr/bin/env bash
# Tries the container image's contents without a container engine (none
# runs on the test machine, and no registry is reachable here for the
# build stage's golang base): builds the binary as the Dockerfile's build
# stage does, lays out the final stage's files in a directory (keep the
# two in step), and runs it there as the image would: chrooted into that
# directory, so with nothing but what the image holds (a dynamically
# linked binary would not even start), as user 65532, with the image's
# environment and default config, in a network namespace of its own so
# that the config's fixed ports are free. Needs root (or sudo).
# scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
root=$(mktemp -d)
trap 'as_root rm -rf "$root"' EXIT
chmod 0755 "$root"

# The build stage.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$root/usr/bin/gatehouse" ./cmd/gatehouse
# The final stage's files.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 dist/gatehouse-container.yaml "$root/etc/gatehouse/gatehouse.yaml"
mkdir -p "$root/var/lib/gatehouse" "$root/tmp"
chmod 1777 "$root/tmp"
as_root chown 65532:65532 "$root/var/lib/gatehouse"

# The image's ENV, USER and CMD.
as_root unshare -n env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin ROOT="$root" bash -euo pipefail -c '
	ip link set lo up
	in_image=(env -i XDG_DATA_HOME=/var/lib "$(command -v chroot)" --userspec=65532:65532 "$ROOT" /usr/bin/gatehouse)
	"${in_image[@]}" validate -c /etc/gatehouse/gatehouse.yaml
	# env and chroot exec: $! is the gatehouse process.
	"${in_image[@]}" run -c /etc/gatehouse/gatehouse.yaml 2>"$ROOT/../image-test.log" &
	pid=$!
	body=
	for _ in $(seq 100); do
		body=$(curl -s http://127.0.0.1:8080/ || true)
		[ -n "$body" ] && break
		sleep 0.1
	done
	health=$(curl -s http://127.0.0.1:2019/health || true)
	kill -TERM "$pid"
	code=0
	wait "$pid" || code=$?
	log=$(cat "$ROOT/../image-test.log"; rm -f "$ROOT/../image-test.log")
	case "$body" in
	"Gatehouse is running"*) ;;
	*) echo "test-image: the image answered \"$body\" on :8080" >&2; echo "$log" >&2; exit 1 ;;
	esac
	[ -n "$health" ] || { echo "test-image: no admin API on 127.0.0.1:2019" >&2; echo "$log" >&2; exit 1; }
	[ "$code" -eq 0 ] || { echo "test-image: exit $code after SIGTERM" >&2; echo "$log" >&2; exit 1; }
'
echo "test-image: the static binary serves the image default config as user 65532 in an empty root, and stops cleanly"
