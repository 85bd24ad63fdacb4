#!/usr/bin/env bash
# Builds the Debian package: a static gatehouse binary, the systemd units,
# the default config (a conffile), a logrotate snippet, the docs; its
# maintainer scripts make the gatehouse system user.
#
#   dist/build-deb.sh [VERSION]      -> dist/out/gatehouse_VERSION_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-$(git describe --tags --always 2>/dev/null | sed 's/^v//; s/-/+/g' || echo 0.0.0)}
case "$version" in [0-9]*) ;; *) version="0.0.0+$version" ;; esac
arch=$(dpkg --print-architecture)
out=dist/out
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/gatehouse" \
	"$stage/etc/logrotate.d" "$stage/usr/share/doc/gatehouse"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$stage/usr/bin/gatehouse" ./cmd/gatehouse
install -m 0644 dist/gatehouse.service dist/gatehouse.socket "$stage/lib/systemd/system/"
install -m 0644 dist/gatehouse.yaml "$stage/etc/gatehouse/gatehouse.yaml"
install -m 0644 dist/gatehouse.logrotate "$stage/etc/logrotate.d/gatehouse"
install -m 0644 README.md docs/*.md "$stage/usr/share/doc/gatehouse/"

cat >"$stage/DEBIAN/control" <<CONTROL
Package: gatehouse
Version: $version
Architecture: $arch
Maintainer: Gatehouse <gatehouse@localhost>
Section: httpd
Priority: optional
Depends: adduser
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: edge server in front of application servers
 Buffering, routes, rewrites, load balancing with health checks, an HTTP
 cache, a WAF with live patches, automatic HTTPS with HTTP/2 and HTTP/3,
 rate and connection limits, identity at the edge, logs and metrics.
CONTROL
echo /etc/gatehouse/gatehouse.yaml >"$stage/DEBIAN/conffiles"
echo /etc/logrotate.d/gatehouse >>"$stage/DEBIAN/conffiles"

cat >"$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent passwd gatehouse >/dev/null; then
		adduser --system --group --home /var/lib/gatehouse --no-create-home --quiet gatehouse
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
		if systemctl is-active --quiet gatehouse.service; then
			# An upgrade: the running process hands over to the new binary.
			systemctl kill -s USR2 gatehouse.service || true
		else
			echo "gatehouse: start it with: systemctl enable --now gatehouse"
		fi
	fi
fi
SCRIPT
cat >"$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now gatehouse.socket gatehouse.service >/dev/null 2>&1 || true
fi
SCRIPT
cat >"$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/gatehouse /var/cache/gatehouse /var/log/gatehouse
	if getent passwd gatehouse >/dev/null; then
		deluser --system --quiet gatehouse >/dev/null 2>&1 || true
	fi
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
SCRIPT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/gatehouse_${version}_${arch}.deb"
fakeroot dpkg-deb --build --root-owner-group "$stage" "$deb" >/dev/null 2>&1 || dpkg-deb --build --root-owner-group "$stage" "$deb" >/dev/null
echo "$deb"
