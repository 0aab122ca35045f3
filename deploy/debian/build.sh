#!/usr/bin/env bash
# deploy/debian/build.sh OUT.deb [BINARY]: the Debian package of vigil, built with dpkg-deb only.
# BINARY defaults to a fresh deploy/build.sh build. The package version is VIGIL_DEB_VERSION, else
# 0.0.0+git<commit> (0.0.0 until the first tag).
set -euo pipefail
out=$(realpath -m "${1:?usage: deploy/debian/build.sh OUT.deb [BINARY]}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bin=${2:-}
if [ -z "$bin" ]; then bin=$stage/vigil.bin; "$root/deploy/build.sh" "$bin"; fi
version=${VIGIL_DEB_VERSION:-0.0.0+git$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
pkg=$stage/pkg
install -D -m 0755 "$bin" "$pkg/usr/bin/vigil"
install -D -m 0640 "$here/vigil.yaml" "$pkg/etc/vigil/vigil.yaml"
install -d -m 0750 "$pkg/etc/vigil/rules.d" "$pkg/etc/vigil/policies.d" "$pkg/var/log/vigil"
install -d -m 0700 "$pkg/var/lib/vigil"
chmod 0750 "$pkg/etc/vigil"
install -D -m 0644 "$here/vigil.service" "$pkg/lib/systemd/system/vigil.service"
install -D -m 0644 "$here/vigil.logrotate" "$pkg/etc/logrotate.d/vigil"
install -d -m 0755 "$pkg/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$pkg/DEBIAN/$s"; done
printf '/etc/vigil/vigil.yaml\n/etc/logrotate.d/vigil\n' > "$pkg/DEBIAN/conffiles"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: vigil
Version: $version
Architecture: amd64
Maintainer: Vigil maintainers <vigil@vigilsec.invalid>
Section: admin
Priority: optional
Installed-Size: $(du -sk "$pkg" | cut -f1)
Recommends: logrotate
Description: container runtime security agent
 Vigil watches the host and its containers with an eBPF sensor, evaluates
 Falco-language rules, blocks what prevention policies forbid, and checks
 images and Kubernetes posture. One static binary; the vigil.service unit
 runs the agent.
CONTROL
# Reproducible: fixed owner and the commit's date on every file.
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
find "$pkg" -exec touch -h -d "@$epoch" {} +
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "$out"
