#!/usr/bin/env bash
# Builds the .deb and tries it on this machine as a user would: dpkg -i,
# the packaged config validates, the installed binary serves (as the
# gatehouse user the package made), then dpkg --purge. Needs root (or
# sudo). scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if dpkg -s gatehouse >/dev/null 2>&1; then
	echo "test-deb: a gatehouse package is installed already; not touching it" >&2
	exit 1
fi
deb=$(dist/build-deb.sh 0.0.0+test)
as_root dpkg -i "$deb" >/dev/null
trap 'as_root dpkg --purge gatehouse >/dev/null' EXIT
/usr/bin/gatehouse validate -c /etc/gatehouse/gatehouse.yaml
getent passwd gatehouse >/dev/null || { echo "test-deb: no gatehouse user" >&2; exit 1; }
# The installed units as systemd reads them (no running systemd needed):
# any unknown directive, bad value or missing binary is an error.
if command -v systemd-analyze >/dev/null; then
	if out=$(systemd-analyze verify /lib/systemd/system/gatehouse.service /lib/systemd/system/gatehouse.socket 2>&1) && [ -z "$out" ]; then :; else
		echo "test-deb: systemd-analyze verify of the installed units:" >&2
		echo "$out" >&2
		exit 1
	fi
fi
work=$(mktemp -d)
chmod 0755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/gatehouse.yaml" <<CONFIG
admin: "off"
sites:
  - listen: ["127.0.0.1:$port"]
    routes:
      - path: /
        respond: {body: "installed\n"}
CONFIG
run_as=()
[ "$(id -u)" -eq 0 ] && run_as=(setpriv --reuid=gatehouse --regid=gatehouse --clear-groups)
"${run_as[@]}" /usr/bin/gatehouse run -c "$work/gatehouse.yaml" 2>"$work/log" &
pid=$!
for _ in $(seq 50); do
	body=$(curl -s "http://127.0.0.1:$port/" || true)
	[ "$body" = installed ] && break
	sleep 0.1
done
kill "$pid"; wait "$pid" || true
rm -rf "$work"
if [ "$body" != installed ]; then
	echo "test-deb: the installed binary did not serve (got: $body)" >&2
	exit 1
fi
echo "test-deb: $deb installs, its units and config validate, /usr/bin/gatehouse serves as the gatehouse user"
