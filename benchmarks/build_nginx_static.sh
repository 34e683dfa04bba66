#!/usr/bin/env bash
# Build nginx with nginx-rtmp compiled in (not as a dynamic module), from the sources of the
# versions Debian ships, into benchmarks/.nginx-static. Debian's dynamic libnginx-mod-rtmp
# never accepts rtmp_auto_push's sockets between workers; a static build does, so the
# cluster benchmark's 2-worker nginx-rtmp is a real 2-worker server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="$here/.nginx-static"
if [[ -x "$prefix/sbin/nginx" ]]; then
    echo "$prefix/sbin/nginx"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A private apt state: the machine's own package lists and sources stay as they are.
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian bookworm main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" update -qq
cd "$work"
# Only the upstream tarballs are used; Debian's packaging is not needed to build.
apt-get "${apt_opts[@]}" source --download-only nginx libnginx-mod-rtmp >/dev/null 2>&1 || true
tar xzf nginx_*.orig.tar.gz
tar xJf libnginx-mod-rtmp_*.orig.tar.xz
cd nginx-[0-9]*/
./configure --prefix="$prefix" --without-http_rewrite_module --with-cc-opt="-O2" \
    --http-log-path=/dev/null \
    --add-module="$(echo "$work"/nginx-rtmp-module-*)" >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
echo "$prefix/sbin/nginx"
