#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine (or a Pi on Raspberry Pi OS Bookworm) needs to build, run
# and test Scout: Debian packages, npm packages, the whisper.cpp build. Safe to run again: each
# step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Debian packages. Runtime: alsa-utils (arecord), sox + espeak-ng (simulator mic), util-linux
# (fallocate). Build: cmake, g++ (whisper.cpp). Tests: pulseaudio (real-time paced capture),
# chromium (the page), prometheus (promtool), debootstrap (systemd as PID 1). The Pi's CPU under
# qemu (npm run test:pi): qemu-user-static + binfmt-support (arm64 binaries run through binfmt_misc),
# the aarch64 cross toolchain (whisper.cpp per board, native addons), file (checks their arch).
# The shell scripts' lint: shellcheck (test/unit/shellcheck.test.ts); rsync: install-pi.sh's app copy.
# mosquitto: the real MQTT broker the integration tests start on loopback. nbdkit + libnbd-bin
# (nbdfuse): a block device whose writes fail with EIO on demand (test/helpers/eio-card.ts).
PACKAGES=(alsa-utils sox libsox-fmt-all espeak-ng util-linux time cmake g++ make python3 openssl
  pulseaudio pulseaudio-utils libasound2-plugins chromium prometheus debootstrap iproute2 ca-certificates
  qemu-user-static binfmt-support gcc-aarch64-linux-gnu g++-aarch64-linux-gnu file shellcheck rsync
  mosquitto nbdkit libnbd-bin)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages: all present"
fi

# arm64 binaries run through binfmt_misc: it must be mounted, and qemu-aarch64 enabled (Debian's
# entry has the F flag, so a chroot needs no emulator inside). Needs root; a container may lack it.
if [ "$(id -u)" -eq 0 ] && [ "$(uname -m)" = x86_64 ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || echo "could not mount binfmt_misc: npm run test:pi will not run"
  fi
  if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    say "enabling binfmt qemu-aarch64"
    update-binfmts --enable qemu-aarch64 || echo "could not enable qemu-aarch64: npm run test:pi will not run"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: the lock lists node-unix-socket's per-platform binaries as optional,
  # and `npm ci` refuses a lock whose optional packages the registry in use does not serve (here:
  # all but linux-x64). With the lock present, `npm install` installs exactly the locked versions.
  say "installing npm packages (npm install, from package-lock.json)"
  npm install --no-audit --no-fund
else
  say "npm packages: up to date"
fi

say "building whisper.cpp (cached; rebuilt only when the source or flags change; ~5 min the first time)"
bash scripts/build-whisper.sh --quiet

say "compiling TypeScript"
npm run --silent build
say "setup done"
