#!/usr/bin/env bash
# A cached Debian trixie arm64 root filesystem: the Pi's userland (Raspberry Pi OS follows Debian)
# for tests that run arm64 binaries on an x86-64 machine through binfmt_misc + qemu-user-static.
#
# Why trixie: its own nodejs is 20.x, the Node the appliance needs; bookworm's is 18.
# The tree is made with `debootstrap --arch=arm64 --variant=minbase --include=<PACKAGES>` (the
# second stage runs under qemu-aarch64 via binfmt), from this machine's own apt mirror (never a
# hard-coded one). It is cached OUTSIDE the clone, because CI clones afresh on the same machine:
#   ${SCOUT_CACHE_DIR:-/var/cache/scout-ci}/pi/rootfs-<key>
# where <key> hashes everything that defines the tree (suite, arch, variant, package list, mirror).
# Built in <dir>.partial and renamed into place, under a flock, so a half-made tree is never used
# and parallel runs wait for one build instead of making two.
#
# Usage: scripts/pi/arm64-root.sh            prints the rootfs path as the last line of stdout
#        scripts/pi/arm64-root.sh --key      prints only the key
# Needs root (debootstrap, chroot), debootstrap, and binfmt qemu-aarch64 registered with the F flag
# (Debian's qemu-user-static does that), so the chroot needs no emulator copied into it.
set -euo pipefail

SUITE=trixie
ARCH=arm64
VARIANT=minbase
# nodejs + libnode-dev: the arm64 Node the appliance runs on and the headers native addons build
# against. alsa-utils: arecord. The rest is what provisioning/install-pi.sh runs with --skip-apt
# (rsync, npm, curl, avahi-daemon, the whisper.cpp build tools, openssl for its integrity check).
PACKAGES=(nodejs libnode-dev alsa-utils rsync ca-certificates openssl curl cmake make g++ python3 procps)
# Installed afterwards with apt inside the tree: their dependencies have alternatives
# (dbus-system-bus, node-color-support) that debootstrap's simple resolver leaves out, so
# debootstrap --include=npm,avahi-daemon fails at configure time (measured).
APT_PACKAGES=(npm avahi-daemon)
# Bump when the way the tree is made changes in a way the inputs above do not show.
FORMAT=1

CACHE_ROOT="${SCOUT_CACHE_DIR:-/var/cache/scout-ci}/pi"

log() { printf '[arm64-root] %s\n' "$*" >&2; }

# The main archive this machine's apt uses (its own release, not -updates/-security): trixie is
# served by the same Debian mirror under its own suite name.
host_mirror() {
  local codename
  # shellcheck disable=SC1091 # the machine's own file
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders, not shell
  apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Created-By: Packages' 2>/dev/null \
    | awk -v c="$codename" '$2 == c && $1 ~ /^https?:\/\// { print $1; exit }'
}

compute_key() {
  local mirror="$1"
  printf 'format=%s\nsuite=%s\narch=%s\nvariant=%s\npackages=%s\nmirror=%s\n' \
    "$FORMAT" "$SUITE" "$ARCH" "$VARIANT" "$(printf '%s\n' "${PACKAGES[@]}" "${APT_PACKAGES[@]}" | sort | tr '\n' ,)" "$mirror" \
    | sha256sum | cut -c1-16
}

main() {
  local mirror key dir
  mirror="$(host_mirror)"
  [[ -n "$mirror" ]] || { log "no Debian mirror in this machine's apt sources"; exit 2; }
  key="$(compute_key "$mirror")"
  if [[ "${1:-}" == "--key" ]]; then echo "$key"; exit 0; fi
  dir="$CACHE_ROOT/rootfs-$key"
  if [[ -f "$dir/.complete" ]]; then log "cached: $dir"; echo "$dir"; exit 0; fi
  [[ "$(id -u)" -eq 0 ]] || { log "needs root to debootstrap"; exit 2; }
  command -v debootstrap >/dev/null || { log "debootstrap not installed (Debian package debootstrap)"; exit 2; }
  grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || { log "binfmt qemu-aarch64 not registered with the F flag (qemu-user-static; update-binfmts --enable qemu-aarch64)"; exit 2; }
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.rootfs.lock"
  flock 9
  if [[ -f "$dir/.complete" ]]; then log "built by another process meanwhile: $dir"; echo "$dir"; exit 0; fi
  local partial="$dir.partial" started=$SECONDS
  rm -rf "$partial"
  log "debootstrap $SUITE $ARCH from $mirror with ${PACKAGES[*]} (several minutes under emulation)"
  if ! debootstrap --arch="$ARCH" --variant="$VARIANT" --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    "$SUITE" "$partial" "$mirror" >"$CACHE_ROOT/debootstrap-$key.log" 2>&1; then
    tail -40 "$CACHE_ROOT/debootstrap-$key.log" >&2
    tail -40 "$partial/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 3
  fi
  log "apt-get install ${APT_PACKAGES[*]} inside the tree"
  cp /etc/resolv.conf "$partial/etc/resolv.conf" 2>/dev/null || true
  if ! chroot "$partial" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${APT_PACKAGES[*]}" \
    >>"$CACHE_ROOT/debootstrap-$key.log" 2>&1; then
    tail -40 "$CACHE_ROOT/debootstrap-$key.log" >&2
    exit 3
  fi
  # The apt lists and .debs are only needed to build the tree.
  rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/lib/apt/lists/*_Packages
  echo "$((SECONDS - started))" >"$partial/.build-seconds"
  touch "$partial/.complete"
  rm -rf "$dir"
  mv -T "$partial" "$dir"
  log "built in $((SECONDS - started)) s: $dir"
  flock -u 9
  echo "$dir"
}

main "$@"
