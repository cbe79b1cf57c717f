#!/usr/bin/env bash
# The appliance's production node_modules for arm64 (a Pi), made on an x86-64 machine: the
# packages from package-lock.json (`npm install --omit=dev --cpu=arm64`, scripts off), then every
# native addon cross-compiled with Debian's aarch64-linux-gnu-g++ against the arm64 rootfs's own
# Node headers (libnode-dev), so the addons match the Node that loads them. Compiling them inside
# the rootfs would work too, but under emulation sqlite3.c alone takes many minutes.
#
# Usage: scripts/pi/arm64-node-modules.sh ROOTFS
#   prints the directory holding node_modules as the last line of stdout.
# Cached in ${SCOUT_CACHE_DIR:-/var/cache/scout-ci}/pi/node-modules-<key>, the key hashing the
# lockfile, package.json, the rootfs (its own key is in its name) and the cross compiler.
# Built in <dir>.partial and renamed, under a flock.
set -euo pipefail

ROOTFS="${1:?usage: arm64-node-modules.sh ROOTFS}"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_ROOT="${SCOUT_CACHE_DIR:-/var/cache/scout-ci}/pi"
FORMAT=1
# Packages with a binding.gyp that production code loads (onoff's epoll is an optional dependency).
ADDONS=(better-sqlite3 epoll)

log() { printf '[arm64-node-modules] %s\n' "$*" >&2; }

[[ -f "$ROOTFS/usr/include/node/common.gypi" ]] || { log "no Node headers in $ROOTFS (libnode-dev)"; exit 2; }
command -v aarch64-linux-gnu-g++ >/dev/null || { log "aarch64-linux-gnu-g++ not installed (g++-aarch64-linux-gnu)"; exit 2; }
NODE_GYP="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$NODE_GYP" ]] || { log "npm's node-gyp not found at $NODE_GYP"; exit 2; }

key="$({
  echo "format=$FORMAT"
  sha256sum "$REPO_DIR/package-lock.json" "$REPO_DIR/package.json" | cut -d' ' -f1
  basename "$(readlink -f "$ROOTFS")"
  sha256sum <"$ROOTFS/usr/include/node/node_version.h" | cut -d" " -f1
  aarch64-linux-gnu-g++ --version | head -1
  echo "addons=${ADDONS[*]}"
} | sha256sum | cut -c1-16)"
dir="$CACHE_ROOT/node-modules-$key"
if [[ -f "$dir/.complete" ]]; then log "cached: $dir"; echo "$dir"; exit 0; fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.node-modules.lock"
flock 9
if [[ -f "$dir/.complete" ]]; then log "built by another process meanwhile: $dir"; echo "$dir"; exit 0; fi
partial="$dir.partial"
started=$SECONDS
rm -rf "$partial"
mkdir -p "$partial"
cp "$REPO_DIR/package.json" "$REPO_DIR/package-lock.json" "$partial/"
log "npm install --omit=dev for linux/arm64 (install scripts off)"
# `npm install` with the lock present installs exactly the locked versions; not `npm ci`, which
# refuses the lock's per-platform optional packages the registry does not serve (dev-setup.sh).
(cd "$partial" && npm install --omit=dev --ignore-scripts --no-save --no-audit --no-fund --os=linux --cpu=arm64 --libc=glibc >&2)
# Debian's Node headers leave libuv's to libuv1-dev in /usr/include; only those are added (not the
# whole target /usr/include, whose libc headers belong to the cross toolchain's own sysroot).
uv_include="$partial/.uv-include"
mkdir -p "$uv_include"
[[ -f "$ROOTFS/usr/include/uv.h" ]] && ln -sfn "$ROOTFS/usr/include/uv.h" "$ROOTFS/usr/include/uv" "$uv_include/"
for addon in "${ADDONS[@]}"; do
  [[ -f "$partial/node_modules/$addon/binding.gyp" ]] || { log "$addon not installed: skipped"; continue; }
  log "cross-compiling $addon for arm64"
  (
    cd "$partial/node_modules/$addon"
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      CFLAGS="-isystem $uv_include" CXXFLAGS="-isystem $uv_include" \
      nice -n 10 node "$NODE_GYP" rebuild --release --arch=arm64 --nodedir="$ROOTFS/usr" -j "$(nproc)" >"$partial/$addon-build.log" 2>&1 \
      || { tail -40 "$partial/$addon-build.log" >&2; exit 4; }
    # Only the .node file is loaded; the objects are build leftovers.
    rm -rf build/Release/obj.target build/Release/.deps build/Release/test_extension.node build/Release/*.a build/deps build/Release/obj
  )
  for built in "$partial/node_modules/$addon"/build/Release/*.node; do
    file -b "$built" | grep -q 'ARM aarch64' || { log "$built is not an arm64 binary: $(file -b "$built")"; exit 5; }
  done
done
rm -rf "$uv_include"
echo "$((SECONDS - started))" >"$partial/.build-seconds"
touch "$partial/.complete"
rm -rf "$dir"
mv -T "$partial" "$dir"
log "built in $((SECONDS - started)) s: $dir"
flock -u 9
echo "$dir"
