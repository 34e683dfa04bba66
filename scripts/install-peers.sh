#!/usr/bin/env bash
# Installs the Debian peers the test suite talks to: nginx with the RTMP module (an upstream
# server), rtmpdump (a librtmp player), Debian's FFmpeg 5.1 (an older FFmpeg, plus ffprobe) and
# redis-server (the cluster's stream directory; tests start their own on a free port) and
# Chromium (headless, for the HTTP-FLV browser test).
# FFmpeg 9 itself comes from the imageio-ffmpeg package; the browser tests' player libraries
# (mpegts.js and hls.js, pinned in tests/relay/browser/package-lock.json) come from npm.
set -euo pipefail

# The browser test's node_modules, once (no root needed; the npm registry must be reachable).
browser_dir="$(dirname "$0")/../tests/relay/browser"
if [ ! -d "$browser_dir/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error \
            || echo "install-peers: npm ci failed; the browser test will not run" >&2
    else
        echo "install-peers: npm not found; the browser test will not run" >&2
    fi
fi

have_peers() {
    command -v rtmpdump >/dev/null 2>&1 \
        && command -v nginx >/dev/null 2>&1 \
        && compgen -G "/usr/lib/nginx/modules/ngx_rtmp_module.so" >/dev/null \
        && [ -x /usr/bin/ffmpeg ] && [ -x /usr/bin/ffprobe ] \
        && command -v redis-server >/dev/null 2>&1 \
        && [ -x /usr/bin/chromium ]
}

if have_peers; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: need root and apt-get to install nginx, libnginx-mod-rtmp, rtmpdump, ffmpeg, redis-server and chromium" >&2
    # Tests that need these peers fail under CI=true and skip elsewhere.
    exit 0
fi
# Keep the package scripts from starting daemons (nginx on port 80, redis-server on 6379)
# during installation: tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp rtmpdump ffmpeg \
    redis-server chromium >/dev/null
have_peers
