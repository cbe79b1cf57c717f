#!/usr/bin/env bash
# Provisions a Raspberry Pi 4/5 on 64-bit Raspberry Pi OS (trixie or bookworm) as a Scout
# appliance. Run from a checkout: sudo provisioning/install-pi.sh [options]. What it changes on
# the box and why: provisioning/README.md. Every step looks at the current state first and acts
# only when it differs, so a second run changes nothing; --dry-run prints the plan and writes nothing.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo provisioning/install-pi.sh [options]

Options (stable interface; provisioning/README.md explains each):
  --dry-run              print every step and the commands it would run ("would: ..."); change nothing
  --root DIR             read the box's facts under DIR instead of /: proc/asound/cards,
                         proc/device-tree/model, proc/cpuinfo, proc/sys/kernel/arch, etc/os-release
                         (each falls back to the real file when absent under DIR), and edit
                         DIR/boot/firmware/config.txt. Not the install target: /opt/scout, /etc and
                         /var are always the real ones.
  --board pi4|pi5        the board whose CPU whisper.cpp is built for (default: detected from the
                         device tree or cpuinfo; needed under qemu-user, whose cpuinfo is the host's)
  --mic NAME             ALSA capture device, e.g. plughw:CARD=Device,DEV=0 (a bare card id such as
                         "Device" means plughw:CARD=Device,DEV=0); default: the first USB-Audio card
  --model-file PATH      install the transcription model from this file instead of downloading it;
                         it must match the pinned sha256 of ggml-tiny.en-q8_0.bin
  --allow-unpinned-model with --model-file: accept a file that matches no pin (test models); warns
  --node-tarball PATH    install Node.js from this official node-v20+-linux-arm64.tar.xz instead of
                         apt (trixie) or NodeSource (bookworm)

Built on a faster machine, installed on the box (each optional; without it the box builds it):
  --whisper-build DIR    import this whisper.cpp build instead of compiling it here: what
                         `scripts/build-whisper.sh --board pi4|pi5 --cross aarch64` made (its
                         .cache/whisper/<key> dir, or the bin dir it prints). Refused unless its
                         build-info names this board and -mcpu and its binaries are aarch64 ELF
  --node-modules DIR     install these production node_modules for arm64 instead of running npm
                         here: the dir scripts/pi/arm64-node-modules.sh prints. Refused unless made
                         from this checkout's package-lock.json; verified like npm's (npm ls, and
                         better-sqlite3 must load in this box's Node)
  --dist DIR             the compiled JS (CPU independent) from scripts/pi/build-dist.sh; used when
                         its .scout-source.sha256 is this checkout's scripts/source-hash.sh, else
                         the box compiles it as without the flag
  --skip-apt             install no packages; still checks that every needed package is there
  --no-systemd           no systemctl calls (a chroot or image build): the unit, its enable link
                         and the drop-ins are written, reload/restart are only printed
  --logs-in-ram          journald keeps logs in RAM only (Storage=volatile): nothing on the SD card
  --hardware-watchdog    dtparam=watchdog=on in config.txt and RuntimeWatchdogSec=15 for systemd
  --source DIR           the checkout to install from (default: the one holding this script)
  -h, --help             this text
EOF
}

PREFIX=/opt/scout
BUILD_DIR=/var/cache/scout/build
DATA_DIR=/var/lib/scout
CONFIG=/etc/scout/scout.json
UNIT=/etc/systemd/system/scout.service
NORMAL_MODEL=tiny.en-q8_0
CONSTRAINED_MODEL=tiny.en-q5_1

DRY_RUN=0
ROOT=""
BOARD=""
MIC=""
MODEL_FILE=""
ALLOW_UNPINNED=0
NODE_TARBALL=""
WHISPER_BUILD=""
NODE_MODULES=""
DIST=""
SKIP_APT=0
NO_SYSTEMD=0
LOGS_IN_RAM=0
HW_WATCHDOG=0
SOURCE=""

# Something the service runs changed (code, dependencies, whisper build, config, unit): restart it.
SERVICE_CHANGED=0
REBOOT_NEEDED=0
DAEMON_RELOAD=0

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install-pi: %s\n' "$*" >&2; exit 1; }
dry() { [ "$DRY_RUN" -eq 1 ]; }

# Runs a command, or in --dry-run prints it. Every change to the box goes through run or one of
# the put_* helpers below, so the dry run is the whole plan, and a real run logs each change as
# "run: ..." (a rerun that prints none changed nothing).
run() {
  if dry; then
    printf 'would:'; printf ' %q' "$@"; printf '\n'
  else
    printf 'run:'; printf ' %q' "$@"; printf '\n'
    "$@"
  fi
}

need_value() { [ -n "${2:-}" ] || die "$1 needs a value (see --help)"; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --root) need_value "$1" "${2:-}"; ROOT="${2%/}"; shift ;;
      --board) need_value "$1" "${2:-}"; BOARD="$2"; shift ;;
      --mic) need_value "$1" "${2:-}"; MIC="$2"; shift ;;
      --model-file) need_value "$1" "${2:-}"; MODEL_FILE="$2"; shift ;;
      --allow-unpinned-model) ALLOW_UNPINNED=1 ;;
      --node-tarball) need_value "$1" "${2:-}"; NODE_TARBALL="$2"; shift ;;
      --whisper-build) need_value "$1" "${2:-}"; WHISPER_BUILD="$2"; shift ;;
      --node-modules) need_value "$1" "${2:-}"; NODE_MODULES="$2"; shift ;;
      --dist) need_value "$1" "${2:-}"; DIST="$2"; shift ;;
      --skip-apt) SKIP_APT=1 ;;
      --no-systemd) NO_SYSTEMD=1 ;;
      --logs-in-ram) LOGS_IN_RAM=1 ;;
      --hardware-watchdog) HW_WATCHDOG=1 ;;
      --source) need_value "$1" "${2:-}"; SOURCE="$2"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
  done
  case "$BOARD" in ""|pi4|pi5) ;; *) die "--board takes pi4 or pi5, not '$BOARD'" ;; esac
  [ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  [ -z "$MODEL_FILE" ] || [ -f "$MODEL_FILE" ] || die "--model-file $MODEL_FILE does not exist"
  [ "$ALLOW_UNPINNED" -eq 0 ] || [ -n "$MODEL_FILE" ] || die "--allow-unpinned-model only goes with --model-file"
  [ -z "$NODE_TARBALL" ] || [ -f "$NODE_TARBALL" ] || die "--node-tarball $NODE_TARBALL does not exist"
  local flag dir
  for flag in whisper-build:"$WHISPER_BUILD" node-modules:"$NODE_MODULES" dist:"$DIST"; do
    dir="${flag#*:}"
    [ -z "$dir" ] || [ -d "$dir" ] || die "--${flag%%:*} $dir is not a directory"
  done
  if [ -z "$SOURCE" ]; then SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"; fi
  if [ ! -f "$SOURCE/package-lock.json" ] || [ ! -f "$SOURCE/systemd/scout.service" ]; then
    die "--source $SOURCE is not a Scout checkout (no package-lock.json or systemd/scout.service)"
  fi
  SOURCE="$(cd "$SOURCE" && pwd)"
  # Absolute paths: later steps run from other directories.
  [ -z "$MODEL_FILE" ] || MODEL_FILE="$(realpath "$MODEL_FILE")"
  [ -z "$NODE_TARBALL" ] || NODE_TARBALL="$(realpath "$NODE_TARBALL")"
  [ -z "$WHISPER_BUILD" ] || WHISPER_BUILD="$(realpath "$WHISPER_BUILD")"
  [ -z "$NODE_MODULES" ] || NODE_MODULES="$(realpath "$NODE_MODULES")"
  [ -z "$DIST" ] || DIST="$(realpath "$DIST")"
}

# A fact about the box: the file under --root when it is there, else the real one.
probe() {
  if [ -n "$ROOT" ] && [ -e "$ROOT$1" ]; then printf '%s' "$ROOT$1"; else printf '%s' "$1"; fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- writing files: compare first, write only a difference -------------------------------------

# put_file SRC DEST MODE: installs SRC as DEST unless DEST already has the same bytes and mode.
# Returns 0 when it changed (or would change) something, 1 when DEST was already right.
put_file() {
  local src="$1" dest="$2" mode="$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    note "unchanged: $dest"
    return 1
  fi
  run install -D -m "$mode" "$src" "$dest"
  return 0
}

# put_text DEST MODE TEXT: put_file for generated content.
put_text() {
  local dest="$1" mode="$2" text="$3" tmp rc=0
  tmp="$(mktemp)"
  printf '%s' "$text" >"$tmp"
  if dry && ! { [ -f "$dest" ] && cmp -s "$tmp" "$dest"; }; then
    printf 'would: write %s (mode %s):\n' "$dest" "$mode"
    sed 's/^/        | /' "$tmp"
    rm -f "$tmp"
    return 0
  fi
  put_file "$tmp" "$dest" "$mode" || rc=$?
  rm -f "$tmp"
  return "$rc"
}

# put_absent PATH: removes a file this script wrote earlier when its flag is no longer given.
put_absent() {
  if [ -e "$1" ]; then run rm -f "$1"; return 0; fi
  return 1
}

# ---- the box -----------------------------------------------------------------------------------

check_arch() {
  say "architecture"
  local arch arch_file
  arch_file="$(probe /proc/sys/kernel/arch)"
  if [ -n "$ROOT" ] && [ "$arch_file" = "$ROOT/proc/sys/kernel/arch" ]; then
    arch="$(tr -d '[:space:]' <"$arch_file")"
  else
    arch="$(uname -m)"
  fi
  case "$arch" in
    aarch64|arm64) note "$arch (64-bit)" ;;
    *) die "this is a $arch system: Scout needs the 64-bit Raspberry Pi OS (aarch64). Flash the 64-bit image and run this again." ;;
  esac
}

OS_CODENAME=""
check_os() {
  say "operating system"
  local file
  file="$(probe /etc/os-release)"
  [ -f "$file" ] || die "$file is missing: cannot tell which Debian release this is"
  # shellcheck disable=SC1090 # os-release is shell assignments by definition (os-release(5))
  OS_CODENAME="$(. "$file" && printf '%s' "${VERSION_CODENAME:-}")"
  case "$OS_CODENAME" in
    trixie) note "trixie (Debian 13): Node.js 20 from its own packages" ;;
    bookworm) note "bookworm (Debian 12): Node.js 20 from NodeSource (its own nodejs is 18)" ;;
    *) die "release '${OS_CODENAME:-unknown}' ($file) is not supported: Raspberry Pi OS trixie or bookworm, 64-bit" ;;
  esac
}

MCPU=""
detect_board() {
  say "board"
  local model_file cpu_file model="" part=""
  if [ -z "$BOARD" ]; then
    model_file="$(probe /proc/device-tree/model)"
    [ -r "$model_file" ] && model="$(tr -d '\0' <"$model_file")"
    case "$model" in
      # "Raspberry Pi 4 Model B Rev 1.5", "Raspberry Pi 400 Rev 1.0", "Raspberry Pi 5 Model B Rev 1.0", ...
      "Raspberry Pi 4"*|"Raspberry Pi Compute Module 4"*) BOARD=pi4 ;;
      "Raspberry Pi 5"*|"Raspberry Pi Compute Module 5"*) BOARD=pi5 ;;
    esac
  fi
  if [ -z "$BOARD" ]; then
    # The CPU part number: 0xd08 Cortex-A72 (BCM2711, Pi 4), 0xd0b Cortex-A76 (BCM2712, Pi 5).
    cpu_file="$(probe /proc/cpuinfo)"
    [ -r "$cpu_file" ] && part="$(awk -F: '/^CPU part/ { gsub(/[ \t]/, "", $2); print $2; exit }' "$cpu_file")"
    case "$part" in
      0xd08) BOARD=pi4 ;;
      0xd0b) BOARD=pi5 ;;
    esac
  fi
  [ -n "$BOARD" ] || die "cannot tell the board (device tree model '${model:-none}', CPU part '${part:-none}'): give --board pi4 or --board pi5"
  # Explicit CPUs, never "native": a Pi 5 build (dotprod, fp16) dies with SIGILL on a Pi 4.
  case "$BOARD" in
    pi4) MCPU=cortex-a72 ;;
    pi5) MCPU=cortex-a76 ;;
  esac
  note "$BOARD: whisper.cpp built with -mcpu=$MCPU, GGML_NATIVE=OFF"
}

# ---- parts built on another machine ---------------------------------------------------------------

# The ELF header says what CPU a binary is for (what `file` prints): the magic, class 2 (64-bit),
# data 1 (little-endian), e_machine 183 (EM_AARCH64). Read with od: no `file` needed on the box.
is_aarch64_elf() {
  local header
  header="$(od -An -tx1 -N20 "$1" 2>/dev/null | tr -d ' \n')"
  [ "${header:0:8}" = 7f454c46 ] && [ "${header:8:4}" = 0201 ] && [ "${header:36:4}" = b700 ]
}

# For messages: `file`'s description where it is installed.
what_binary() {
  if command -v file >/dev/null; then file -b "$1"; else printf 'ELF header %s' "$(od -An -tx1 -N20 "$1" 2>/dev/null | tr -d '\n')"; fi
}

# info_value FILE NAME: the value of a NAME=value line of a build-info file.
info_value() { sed -n "s/^$2=//p" "$1" | head -1; }

# --whisper-build: a build-whisper.sh build for this board (build-info: board and mcpu), its
# binaries aarch64 ELF. Checked before anything changes, in --dry-run too.
WHISPER_SRC=""
WHISPER_KEY=""
WHISPER_TARGETS=()
check_whisper_build() {
  local dir="$WHISPER_BUILD" info board mcpu targets target
  # The bin dir build-whisper.sh prints, or the <key> dir above it.
  if [ ! -f "$dir/build-info" ] && [ "$(basename "$dir")" = bin ] && [ -f "$dir/../build-info" ]; then
    dir="$(dirname "$dir")"
  fi
  info="$dir/build-info"
  [ -f "$info" ] || die "--whisper-build $WHISPER_BUILD: no build-info there (make the build with scripts/build-whisper.sh --board $BOARD --cross aarch64)"
  board="$(info_value "$info" board)"
  mcpu="$(info_value "$info" mcpu)"
  WHISPER_KEY="$(info_value "$info" key)"
  targets="$(info_value "$info" targets)"
  if [ "$board" != "$BOARD" ] || [ "$mcpu" != "$MCPU" ]; then
    die "--whisper-build $WHISPER_BUILD was built for board '${board:-unknown}' (-mcpu=${mcpu:-unknown}), but this box is a $BOARD (-mcpu=$MCPU): builds are per board (a pi5 build dies with SIGILL on a Pi 4). Build it with scripts/build-whisper.sh --board $BOARD --cross aarch64"
  fi
  [[ "$WHISPER_KEY" =~ ^[0-9a-f]{16}$ ]] || die "--whisper-build $WHISPER_BUILD: build-info has no valid key ('$WHISPER_KEY')"
  read -r -a WHISPER_TARGETS <<<"$targets"
  case " $targets " in *" whisper-server "*) ;; *) die "--whisper-build $WHISPER_BUILD: build-info lists no whisper-server (targets: '$targets')" ;; esac
  for target in "${WHISPER_TARGETS[@]}"; do
    if [ ! -f "$dir/bin/$target" ] || [ ! -x "$dir/bin/$target" ]; then
      die "--whisper-build $WHISPER_BUILD: $dir/bin/$target is missing or not executable"
    fi
    is_aarch64_elf "$dir/bin/$target" || die "--whisper-build $WHISPER_BUILD: $dir/bin/$target is not an aarch64 binary ($(what_binary "$dir/bin/$target"))"
  done
  WHISPER_SRC="$dir"
  note "whisper.cpp: build $WHISPER_KEY from $dir ($board, -mcpu=$mcpu, aarch64 ELF: ${WHISPER_TARGETS[*]})"
}

# --node-modules: made from this checkout's lock (arm64-node-modules.sh keeps a copy next to
# node_modules), its compiled addons aarch64. Whether it is complete and loads is checked after
# the copy, on this box's Node (runtime_modules_ok), as for npm's own install.
NODE_MODULES_SRC=""
check_node_modules() {
  local dir="$NODE_MODULES" addon
  if [ ! -d "$dir/node_modules" ] && [ "$(basename "$dir")" = node_modules ]; then dir="$(dirname "$dir")"; fi
  [ -d "$dir/node_modules" ] || die "--node-modules $NODE_MODULES: no node_modules there (make it with scripts/pi/arm64-node-modules.sh)"
  [ -f "$dir/package-lock.json" ] || die "--node-modules $NODE_MODULES: no package-lock.json next to node_modules: cannot tell which lock it was made from"
  cmp -s "$dir/package-lock.json" "$SOURCE/package-lock.json" \
    || die "--node-modules $NODE_MODULES was made from another package-lock.json than $SOURCE's: make it again from this checkout"
  while IFS= read -r -d '' addon; do
    is_aarch64_elf "$addon" || die "--node-modules $NODE_MODULES: $addon is not an aarch64 binary ($(what_binary "$addon"))"
  done < <(find "$dir/node_modules" -path '*/build/Release/*.node' -type f -print0)
  NODE_MODULES_SRC="$dir"
  note "node_modules: from $dir (made from this package-lock.json)"
}

# --dist: used only when it was compiled from exactly these sources; otherwise the box compiles.
SOURCE_HASH=""
DIST_SRC=""
check_dist() {
  local stamp="$DIST/.scout-source.sha256" theirs
  [ -f "$stamp" ] || die "--dist $DIST: no .scout-source.sha256 (make it with scripts/pi/build-dist.sh)"
  [ -f "$DIST/src/main.js" ] || die "--dist $DIST: no src/main.js: not a compiled Scout"
  theirs="$(tr -d '[:space:]' <"$stamp")"
  if [ "$theirs" = "$SOURCE_HASH" ]; then
    DIST_SRC="$DIST"
    note "compiled JS: from $DIST (sources $SOURCE_HASH, this checkout's)"
  else
    note "compiled JS: $DIST was compiled from other sources ($theirs; this checkout: $SOURCE_HASH): compiling here instead"
  fi
}

check_prebuilt() {
  [ -n "$WHISPER_BUILD$NODE_MODULES$DIST" ] || return 0
  say "parts built on another machine"
  [ -z "$WHISPER_BUILD" ] || check_whisper_build
  [ -z "$NODE_MODULES" ] || check_node_modules
  [ -z "$DIST" ] || check_dist
}

# ---- Node.js and packages ----------------------------------------------------------------------

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Official tarballs are named node-v<version>-linux-<arch>.tar.xz.
install_node_tarball() {
  local name version dir
  name="$(basename "$NODE_TARBALL")"
  [[ "$name" =~ ^node-v([0-9]+)\.[0-9]+\.[0-9]+-linux-arm64\.tar\.(xz|gz)$ ]] \
    || die "--node-tarball: expected an official node-vNN.x.y-linux-arm64.tar.xz, got $name"
  [ "${BASH_REMATCH[1]}" -ge 20 ] || die "--node-tarball: Node.js 20 or newer is needed, got $name"
  version="${name%.tar.*}"
  dir="/usr/local/lib/nodejs/$version"
  if [ -x "$dir/bin/node" ] && [ "$(readlink /usr/bin/node 2>/dev/null)" = "$dir/bin/node" ]; then
    note "Node.js from $version: in place"
    return
  fi
  run mkdir -p /usr/local/lib/nodejs
  [ -x "$dir/bin/node" ] || run tar -xf "$NODE_TARBALL" -C /usr/local/lib/nodejs
  # The unit runs /usr/bin/node; npm's own scripts call node from PATH.
  local tool
  for tool in node npm npx; do
    if [ -e "/usr/bin/$tool" ] && [ ! -L "/usr/bin/$tool" ]; then
      die "/usr/bin/$tool belongs to a package; remove the nodejs package or install without --node-tarball"
    fi
    run ln -sfn "$dir/bin/$tool" "/usr/bin/$tool"
  done
  SERVICE_CHANGED=1
}

# NodeSource's apt repository, set up by hand as its README describes (key + source), not by
# piping its setup script into a root shell.
setup_nodesource() {
  local keyring=/etc/apt/keyrings/nodesource.asc list=/etc/apt/sources.list.d/nodesource.list
  local line="deb [signed-by=$keyring] https://deb.nodesource.com/node_20.x nodistro main"
  if [ ! -s "$keyring" ]; then
    run mkdir -p /etc/apt/keyrings
    run curl -fsSL -o "$keyring" https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key
  fi
  put_text "$list" 0644 "$line"$'\n' || true
  # Prefer NodeSource's nodejs over Debian's 18 even if Debian ships a point release later.
  put_text /etc/apt/preferences.d/nodesource 0644 $'Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n' || true
}

# alsa-utils: arecord. rsync: the app copy. avahi-daemon: the mDNS announcement. cmake, g++, make:
# whisper.cpp; python3 too: node-gyp for the native addons. openssl: integrity checks, the token.
PACKAGES=(alsa-utils util-linux rsync avahi-daemon cmake g++ make python3 openssl ca-certificates)

# missing_packages PACKAGE...: prints those not installed, one dpkg-query for all of them.
missing_packages() {
  local installed
  # dpkg-query fails when any of them is unknown to it, and still lists the others.
  installed=" $({ dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true; } | awk '/ install ok installed$/ { printf "%s ", $1 }') "
  local package
  for package in "$@"; do
    case "$installed" in *" $package "*) ;; *) printf '%s\n' "$package" ;; esac
  done
}

# apt_install PACKAGE...: installs those of them that are missing.
apt_install() {
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -gt 0 ] || return 0
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}


install_packages() {
  say "Node.js and Debian packages"
  local node_packages=() missing=() node_source=""
  if [ -n "$NODE_TARBALL" ]; then
    node_source=tarball
  elif [ "$(node_major)" -ge 20 ]; then
    note "Node.js $(node --version) present"
  elif [ "$OS_CODENAME" = trixie ]; then
    node_packages=(nodejs npm)
    node_source=debian
  else
    # NodeSource's nodejs carries npm; curl fetches its key.
    node_packages=(nodejs)
    node_source=nodesource
    PACKAGES+=(curl)
  fi
  mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${node_packages[@]}")
  if [ "$SKIP_APT" -eq 1 ]; then
    [ ${#missing[@]} -eq 0 ] || die "--skip-apt, but these packages are missing: ${missing[*]}"
    note "packages: all present (--skip-apt)"
  elif [ ${#missing[@]} -eq 0 ]; then
    note "packages: all present"
  else
    note "missing: ${missing[*]}"
    if [ "$node_source" = nodesource ]; then
      # Debian's packages first: fetching NodeSource's key needs curl and ca-certificates.
      apt_install "${PACKAGES[@]}"
      setup_nodesource
    fi
    apt_install "${PACKAGES[@]}" "${node_packages[@]}"
  fi
  [ "$node_source" != tarball ] || install_node_tarball
  if ! dry && [ "$(node_major)" -lt 20 ]; then
    die "Node.js 20 or newer is still missing (found: $(node --version 2>/dev/null || echo none))"
  fi
}

# ---- user ----------------------------------------------------------------------------------------

setup_user() {
  say "the scout user and its groups"
  local group
  # gpio is Pi OS's; input comes with udev, audio and video with base-passwd: made if missing.
  for group in audio input gpio video; do
    getent group "$group" >/dev/null || run groupadd --system "$group"
  done
  if id scout >/dev/null 2>&1; then
    note "user scout exists"
  else
    run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin scout
  fi
  local groups missing=()
  groups=" $(id -nG scout 2>/dev/null || true) "
  for group in audio input gpio video; do
    case "$groups" in *" $group "*) ;; *) missing+=("$group") ;; esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    run usermod -a -G "$(IFS=,; printf '%s' "${missing[*]}")" scout
  else
    note "scout is in audio, input, gpio, video"
  fi
  # StateDirectory= would create it too; the token and the models go in before the first start.
  if [ -d "$DATA_DIR" ] && [ "$(stat -c '%U:%G %a' "$DATA_DIR")" = "scout:scout 750" ]; then
    note "unchanged: $DATA_DIR"
  else
    run install -d -o scout -g scout -m 0750 "$DATA_DIR"
  fi
}

# ---- the app -------------------------------------------------------------------------------------

# What of the checkout the box needs: the service reads src/http/web at run time; test/ and bench/
# stay behind. .cache (the whisper build the service runs), node_modules and data are excluded, and
# rsync never deletes excluded paths, so an upgrade keeps them.
RSYNC_EXCLUDES=(--exclude /.git --exclude /node_modules --exclude /.cache --exclude /data
  --exclude /dist --exclude /test --exclude /bench --exclude /coverage)

# sync_tree SRC/ DEST/ [rsync options]: returns 0 when something changed (or would).
# --omit-dir-times: files this script adds later (.cache, node_modules, stamps) move their
# directory's mtime, and rsync would set it back on every rerun: a change each time.
sync_tree() {
  local src="$1" dest="$2" changes
  shift 2
  if dry && [ ! -d "$dest" ]; then
    printf 'would: rsync -a --delete %s %s\n' "$src" "$dest"
    return 0
  fi
  if dry; then
    changes="$(rsync -a --omit-dir-times --delete --itemize-changes --dry-run "$@" "$src" "$dest")"
    [ -z "$changes" ] || printf 'would: rsync -a --delete %s %s (%s entries differ)\n' "$src" "$dest" "$(wc -l <<<"$changes")"
  else
    mkdir -p "$dest"
    changes="$(rsync -a --omit-dir-times --delete --itemize-changes "$@" "$src" "$dest")"
    [ -z "$changes" ] || printf 'run: rsync -a --delete %s %s (%s entries changed)\n' "$src" "$dest" "$(wc -l <<<"$changes")"
  fi
  if [ -z "$changes" ]; then note "unchanged: $dest"; return 1; fi
  return 0
}

# The TypeScript build needs the dev dependencies; /opt/scout must not carry them. So it is built
# in a staging copy, then only dist/ goes over.
build_app() {
  if [ -n "$DIST_SRC" ]; then
    say "the app's compiled JS: from $DIST_SRC (--dist)"
    note "nothing to compile here: no staging copy, no dev dependencies"
    return
  fi
  say "building the app (staging copy in $BUILD_DIR)"
  sync_tree "$SOURCE/" "$BUILD_DIR/" --exclude /.git --exclude /node_modules --exclude /.cache \
    --exclude /data --exclude /dist --exclude /coverage || true
  local lock_sum tree_sum stamp
  lock_sum="$(sha256_of "$SOURCE/package-lock.json")"
  stamp="$BUILD_DIR/node_modules/.scout-lock.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
    note "build dependencies: up to date"
  else
    # --ignore-scripts: tsc needs no native modules; those are built once, in /opt/scout.
    # `npm install`, not `npm ci`: see the app step.
    run_in "$BUILD_DIR" npm install --ignore-scripts --no-save --no-audit --no-fund
    dry || printf '%s\n' "$lock_sum" >"$stamp"
  fi
  tree_sum="$SOURCE_HASH"
  stamp="$BUILD_DIR/dist/.scout-source.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$tree_sum" ]; then
    note "compiled: up to date"
  else
    run_in "$BUILD_DIR" npm run --silent build
    dry || printf '%s\n' "$tree_sum" >"$stamp"
  fi
}

run_in() {
  local dir="$1"
  shift
  printf '%s (cd %q &&' "$(dry && echo would: || echo run:)" "$dir"; printf ' %q' "$@"; printf ')\n'
  dry || (cd "$dir" && "$@")
}

# node_modules matches the lock (npm ls) and the native addons load in this Node. With --why,
# says on stderr what is wrong.
runtime_modules_ok() {
  local why=0
  [ "${1:-}" != --why ] || why=1
  [ -d "$PREFIX/node_modules" ] && command -v node >/dev/null || return 1
  local ls_out load_out
  if ! ls_out="$(cd "$PREFIX" && npm ls --omit=dev --all 2>&1)"; then
    [ "$why" -eq 0 ] || printf 'npm ls --omit=dev --all in %s:\n%s\n' "$PREFIX" "$(grep -E 'ERR|missing|invalid|extraneous' <<<"$ls_out" | head -20)" >&2
    return 1
  fi
  if ! load_out="$(cd "$PREFIX" && node -e 'require("better-sqlite3")(":memory:").close()' 2>&1)"; then
    [ "$why" -eq 0 ] || printf 'better-sqlite3 does not load in %s:\n%s\n' "$(node --version) $(node -p process.arch)" "$(head -5 <<<"$load_out")" >&2
    return 1
  fi
}

install_app() {
  say "the app in $PREFIX"
  if sync_tree "$SOURCE/" "$PREFIX/" "${RSYNC_EXCLUDES[@]}"; then SERVICE_CHANGED=1; fi
  if sync_tree "${DIST_SRC:-$BUILD_DIR/dist}/" "$PREFIX/dist/" --exclude /.scout-source.sha256; then SERVICE_CHANGED=1; fi
  # Keyed by the lock and Node's module ABI: better-sqlite3 is a native module built for one ABI.
  local key stamp="$PREFIX/node_modules/.scout-lock.sha256"
  key="$(sha256_of "$SOURCE/package-lock.json") abi=$(node -p process.versions.modules 2>/dev/null || echo none)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    note "runtime dependencies: up to date"
  elif [ -n "$NODE_MODULES_SRC" ]; then
    # Built on another machine from this lock (--node-modules): copied, then held to the same
    # check as npm's own install would be, on this box's Node.
    sync_tree "$NODE_MODULES_SRC/node_modules/" "$PREFIX/node_modules/" --exclude /.scout-lock.sha256 || true
    if ! dry; then
      runtime_modules_ok --why || die "the node_modules from --node-modules $NODE_MODULES do not work on this box (above); make them with scripts/pi/arm64-node-modules.sh against this box's Node, or install without --node-modules"
      note "runtime dependencies: complete per the lock, better-sqlite3 loads"
      printf '%s\n' "$key" >"$stamp"
    fi
    SERVICE_CHANGED=1
  elif [ ! -f "$stamp" ] && runtime_modules_ok; then
    # Put there by an image build (prebuilt node_modules): complete per the lock and loadable.
    note "runtime dependencies: present and loadable; recorded as installed"
    dry || printf '%s\n' "$key" >"$stamp"
  else
    # `npm install --omit=dev` with the lock present installs exactly the locked versions. Not
    # `npm ci`: the lock lists node-unix-socket's per-platform binaries as optional and names only
    # the x64 ones, and `npm ci` refuses to resolve the arm64 one that this box needs.
    run_in "$PREFIX" npm install --omit=dev --no-save --no-audit --no-fund
    dry || printf '%s\n' "$key" >"$stamp"
    SERVICE_CHANGED=1
  fi
}

build_whisper() {
  say "whisper.cpp for $BOARD (-mcpu=$MCPU)"
  if [ -n "$WHISPER_SRC" ]; then import_whisper; return; fi
  # build-whisper.sh keys its cache on the source, flags and compiler; this stamp lets a rerun skip
  # even starting it. The cache lives under /opt/scout/.cache, which upgrades never delete.
  local key stamp="$PREFIX/.cache/whisper/.scout-install"
  key="$(sha256_of "$SOURCE/scripts/build-whisper.sh") board=$BOARD"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -x "$PREFIX/.cache/whisper/current/bin/whisper-server" ]; then
    note "whisper.cpp build: up to date"
    return
  fi
  run_in "$PREFIX" env "SCOUT_CACHE_DIR=$PREFIX/.cache" bash scripts/build-whisper.sh --quiet --board "$BOARD"
  dry || printf '%s\n' "$key" >"$stamp"
  SERVICE_CHANGED=1
}

# --whisper-build: the build goes where build-whisper.sh would have put it, .cache/whisper/<key>
# (with its build-info and .complete mark), and `current` names it: the service runs
# .cache/whisper/current/bin/whisper-server (src/app/compose.ts).
import_whisper() {
  local cache="$PREFIX/.cache/whisper" dest="$PREFIX/.cache/whisper/$WHISPER_KEY" key target changed=0
  local stamp="$cache/.scout-install"
  key="import $WHISPER_KEY board=$BOARD build-info=$(sha256_of "$WHISPER_SRC/build-info")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ "$(readlink "$cache/current" 2>/dev/null)" = "$WHISPER_KEY" ] \
    && [ -x "$dest/bin/whisper-server" ]; then
    note "whisper.cpp build $WHISPER_KEY (imported): up to date"
    return
  fi
  note "importing build $WHISPER_KEY from $WHISPER_SRC (built on another machine; nothing compiled here)"
  for target in "${WHISPER_TARGETS[@]}"; do
    if put_file "$WHISPER_SRC/bin/$target" "$dest/bin/$target" 0755; then changed=1; fi
  done
  if put_file "$WHISPER_SRC/build-info" "$dest/build-info" 0644; then changed=1; fi
  # build-whisper.sh's mark of a finished build: it never rebuilds over this key.
  [ -f "$dest/.complete" ] || run touch "$dest/.complete"
  if [ "$(readlink "$cache/current" 2>/dev/null)" != "$WHISPER_KEY" ]; then
    run ln -sfn "$WHISPER_KEY" "$cache/current"
    changed=1
  fi
  dry || printf '%s\n' "$key" >"$stamp"
  [ "$changed" -eq 0 ] || SERVICE_CHANGED=1
}

# ---- configuration -------------------------------------------------------------------------------

MIC_DEVICE=""
choose_mic() {
  say "microphone"
  if [ -n "$MIC" ]; then
    case "$MIC" in
      *:*|default) MIC_DEVICE="$MIC" ;;
      *) MIC_DEVICE="plughw:CARD=$MIC,DEV=0" ;;
    esac
    note "$MIC_DEVICE (--mic)"
    return
  fi
  local cards card=""
  cards="$(probe /proc/asound/cards)"
  # By card id, not number: numbers change after a replug or a reboot; the id is the driver's name.
  [ -r "$cards" ] && card="$(awk -F'[][]' '/USB-Audio/ { gsub(/ /, "", $2); print $2; exit }' "$cards")"
  if [ -n "$card" ]; then
    MIC_DEVICE="plughw:CARD=$card,DEV=0"
    note "$MIC_DEVICE (first USB-Audio card in $cards)"
  else
    MIC_DEVICE=default
    note "no USB-Audio card in $cards: using 'default'; plug the mic in and run again, or give --mic"
  fi
}

config_json() {
  cat <<JSON
{
  "dataDir": "$DATA_DIR",
  "audio": { "backend": "alsa", "device": "$MIC_DEVICE", "sampleRateHz": 48000, "channels": 1 },
  "gpio": { "backend": "kernel", "buttonDevicePath": "/dev/input/by-path/platform-button@11-event" },
  "http": { "host": "0.0.0.0", "port": 8080 }
}
JSON
}

write_config() {
  say "configuration $CONFIG"
  if [ ! -f "$CONFIG" ]; then
    put_text "$CONFIG" 0644 "$(config_json)"$'\n' || true
    SERVICE_CHANGED=1
    return
  fi
  # An existing config is the owner's: only --mic changes it (audio.device), nothing else.
  local current
  current="$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(c.audio?.device ?? ""))' "$CONFIG" 2>/dev/null || echo '?')"
  if [ -z "$MIC" ] || [ "$current" = "$MIC_DEVICE" ]; then
    note "keeping $CONFIG (microphone: $current)"
    return
  fi
  run node -e 'const fs = require("fs"); const [file, device] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(file, "utf8")); c.audio = { ...c.audio, device };
fs.writeFileSync(file + ".tmp", JSON.stringify(c, null, 2) + "\n"); fs.renameSync(file + ".tmp", file);' "$CONFIG" "$MIC_DEVICE"
  SERVICE_CHANGED=1
}

# The lines this script owns in config.txt sit between two markers, so a rerun compares and a
# flag removed later takes its line out again. [all]: the lines apply to every board model even if
# the file ends inside a [pi4]/[cm4] filter section.
BLOCK_BEGIN='# >>> scout (managed by provisioning/install-pi.sh; edits here are replaced)'
BLOCK_END='# <<< scout'
boot_block() {
  local legacy="$1"
  printf '%s\n[all]\n' "$BLOCK_BEGIN"
  # An install from before the markers appended the overlays bare; they stay where they are.
  [ "$legacy" -eq 1 ] || grep -E '^(dtoverlay|dtparam|gpio)=' "$SOURCE/hardware/overlays/config.txt.snippet"
  [ "$HW_WATCHDOG" -eq 0 ] || printf 'dtparam=watchdog=on\n'
  printf '%s\n' "$BLOCK_END"
}

# The file without this script's block (awk: always newline-terminated, so the block appends cleanly).
outside_block() {
  awk -v b="$BLOCK_BEGIN" -v e="$BLOCK_END" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$1"
}

boot_config() {
  local config="$ROOT/boot/firmware/config.txt"
  say "config.txt: GPIO overlays$([ "$HW_WATCHDOG" -eq 1 ] && printf ' and dtparam=watchdog=on') in $config"
  if [ ! -f "$config" ]; then
    note "$config not found (not a Raspberry Pi OS boot partition?): add hardware/overlays/config.txt.snippet by hand"
    return
  fi
  local legacy=0 current wanted new
  outside_block "$config" | grep -q 'label=scout-button' && legacy=1
  current="$(awk -v b="$BLOCK_BEGIN" -v e="$BLOCK_END" '$0 == b { p = 1 } p { print } $0 == e { p = 0 }' "$config")"
  wanted="$(boot_block "$legacy")"
  if [ "$current" = "$wanted" ]; then
    note "unchanged: $config"
    return
  fi
  local backup
  backup="$config.scout-$(date +%Y%m%d-%H%M%S).bak"
  run cp -p "$config" "$backup"
  new="$(mktemp)"
  { outside_block "$config"; printf '%s\n' "$wanted"; } >"$new"
  if dry; then
    printf 'would: replace the scout block of %s with:\n' "$config"
    printf '%s\n' "$wanted" | sed 's/^/        | /'
    rm -f "$new"
  else
    # Same inode and owner: the FAT boot partition keeps no modes anyway; cat keeps it simple.
    printf 'run: replace the scout block of %s (backup %s)\n' "$config" "$backup"
    cat "$new" >"$config"
    rm -f "$new"
    sync
  fi
  REBOOT_NEEDED=1
}

install_udev_rules() {
  say "udev rules for the LEDs"
  if put_file "$SOURCE/hardware/overlays/99-scout-gpio.rules" /etc/udev/rules.d/99-scout-gpio.rules 0644; then
    if [ "$NO_SYSTEMD" -eq 0 ] && command -v udevadm >/dev/null; then run udevadm control --reload-rules; fi
  fi
}

# ---- model and token -----------------------------------------------------------------------------

install_models() {
  say "Whisper models in $DATA_DIR/models (sha256-pinned)"
  local fetch=(node "$PREFIX/dist/scripts/fetch-model.js")
  local normal=(--model "$NORMAL_MODEL" --dir "$DATA_DIR/models")
  [ -z "$MODEL_FILE" ] || normal+=(--file "$MODEL_FILE")
  [ "$ALLOW_UNPINNED" -eq 0 ] || normal+=(--allow-unpinned)
  if [ -d "$DATA_DIR/models" ] && [ "$(stat -c '%U:%G %a' "$DATA_DIR/models")" = "scout:scout 750" ]; then
    note "unchanged: $DATA_DIR/models"
  else
    run install -d -o scout -g scout -m 0750 "$DATA_DIR/models"
  fi
  install_model "${fetch[@]}" "${normal[@]}"
  if [ -n "$MODEL_FILE" ]; then
    note "$CONSTRAINED_MODEL (the tier under pressure) is not installed offline: Scout stays on the normal model"
  else
    install_model "${fetch[@]}" --model "$CONSTRAINED_MODEL" --dir "$DATA_DIR/models"
  fi
  # Fetched as root (a --model-file may be where scout cannot read); the service owns them.
  local stray
  stray="$(find "$DATA_DIR/models" -maxdepth 1 -type f ! -user scout 2>/dev/null || true)"
  [ -z "$stray" ] || run chown scout:scout "$DATA_DIR/models"/*.bin
}

install_model() {
  # --check answers without writing; it needs the app installed, which a first dry run has not.
  if [ -f "$PREFIX/dist/scripts/fetch-model.js" ] && command -v node >/dev/null \
    && "$@" --check >/dev/null 2>&1; then
    note "present and verified: ${*:3}"
    return
  fi
  if dry; then run "$@"; return; fi
  # A failed download is not fatal: Scout records and queues transcriptions until a model is there.
  if ! "$@"; then
    note "the model is missing: Scout still records and queues; run this again when online, or give --model-file"
  else
    SERVICE_CHANGED=1
  fi
}

TOKEN=""
ensure_token() {
  say "API token"
  local file="$DATA_DIR/api-token"
  if [ -s "$file" ]; then
    note "present: $file"
    dry || TOKEN="$(tr -d '[:space:]' <"$file")"
    return
  fi
  # The same format the service generates at first start (src/app/api-token.ts): 32 random bytes,
  # base64url, mode 0600, owned by scout. Made here so it can be printed at the end.
  if dry; then
    printf 'would: write %s (32 random bytes, base64url, mode 0600, owner scout)\n' "$file"
    return
  fi
  printf 'run: write %s (32 random bytes, base64url, mode 0600, owner scout)\n' "$file"
  TOKEN="$(openssl rand 32 | basenc --base64url | tr -d '=\n')"
  local tmp="$file.tmp-install"
  (umask 077 && printf '%s\n' "$TOKEN" >"$tmp")
  chown scout:scout "$tmp"
  mv "$tmp" "$file"
}

# ---- system services -----------------------------------------------------------------------------

install_avahi() {
  say "mDNS announcement (avahi)"
  if put_file "$SOURCE/provisioning/avahi/scout.service" /etc/avahi/services/scout.service 0644; then
    systemctl_or_note reload-or-restart avahi-daemon.service
  fi
}

# journald's disk use on the SD card: capped; --logs-in-ram keeps none on it at all.
install_journald() {
  say "journald limits"
  local text
  text=$'# Written by provisioning/install-pi.sh: the SD card wears; journald keeps at most this.\n[Journal]\n'
  if [ "$LOGS_IN_RAM" -eq 1 ]; then
    text+=$'Storage=volatile\nRuntimeMaxUse=30M\n'
  else
    text+=$'SystemMaxUse=50M\nSystemKeepFree=200M\nRuntimeMaxUse=30M\n'
  fi
  if put_text /etc/systemd/journald.conf.d/scout.conf 0644 "$text"; then
    systemctl_or_note restart systemd-journald.service
  fi
}

install_watchdog() {
  say "hardware watchdog ($([ "$HW_WATCHDOG" -eq 1 ] && echo on || echo off))"
  local file=/etc/systemd/system.conf.d/scout-watchdog.conf changed=1
  if [ "$HW_WATCHDOG" -eq 1 ]; then
    # 15 s: the longest the BCM2835 watchdog accepts. systemd pings it; a hung kernel reboots.
    put_text "$file" 0644 $'# Written by provisioning/install-pi.sh --hardware-watchdog.\n[Manager]\nRuntimeWatchdogSec=15\n' || changed=0
  else
    put_absent "$file" || changed=0
  fi
  if [ "$changed" -eq 1 ]; then systemctl_or_note daemon-reexec; fi
}

systemctl_or_note() {
  if [ "$NO_SYSTEMD" -eq 1 ]; then
    note "skipped (--no-systemd): systemctl $*"
  else
    run systemctl "$@"
  fi
}

# sd_notify: Scout sends from its own pid through the node-unix-socket addon where the addon has
# a binary for this box, and the unit's NotifyAccess=main holds. Where it has none (a registry
# that serves no linux-arm64 package), Scout falls back to systemd-notify, a child process, and
# the unit needs NotifyAccess=all: systemd/notify-cli.conf, and only then.
install_notify_access() {
  local dropin="$UNIT.d/notify-cli.conf"
  if [ ! -d "$PREFIX/node_modules" ]; then
    note "would: load node-unix-socket in $PREFIX; where it has no binary, install $dropin (NotifyAccess=all)"
    return
  fi
  if (cd "$PREFIX" && node -e 'require("node-unix-socket")' >/dev/null 2>&1); then
    note "sd_notify: node-unix-socket loads here (NotifyAccess=main)"
    if put_absent "$dropin"; then SERVICE_CHANGED=1; DAEMON_RELOAD=1; fi
  else
    note "sd_notify: node-unix-socket has no binary for this box; Scout uses systemd-notify (NotifyAccess=all)"
    if put_file "$SOURCE/systemd/notify-cli.conf" "$dropin" 0644; then SERVICE_CHANGED=1; DAEMON_RELOAD=1; fi
  fi
}

install_unit() {
  say "systemd unit"
  if put_file "$SOURCE/systemd/scout.service" "$UNIT" 0644; then
    SERVICE_CHANGED=1
    DAEMON_RELOAD=1
  fi
  install_notify_access
  local wants=/etc/systemd/system/multi-user.target.wants/scout.service
  if [ "$NO_SYSTEMD" -eq 1 ]; then
    # What `systemctl enable` does, without a running systemd: the WantedBy= link.
    if [ "$(readlink "$wants" 2>/dev/null)" = "$UNIT" ]; then
      note "enabled (link present)"
    else
      run mkdir -p "$(dirname "$wants")"
      run ln -sfn "$UNIT" "$wants"
    fi
    if [ "$SERVICE_CHANGED" -eq 1 ]; then
      note "skipped (--no-systemd): systemctl daemon-reload; systemctl restart scout.service"
    else
      note "nothing the service runs changed: no restart needed"
    fi
    return
  fi
  [ "$DAEMON_RELOAD" -eq 0 ] || run systemctl daemon-reload
  systemctl is-enabled --quiet scout.service 2>/dev/null || run systemctl enable scout.service
  if ! systemctl is-active --quiet scout.service 2>/dev/null; then
    run systemctl start scout.service
  elif [ "$SERVICE_CHANGED" -eq 1 ]; then
    note "something the service runs changed: restarting it"
    run systemctl restart scout.service
  else
    note "scout.service running, nothing changed: left alone"
  fi
}

summary() {
  say "done$(dry && printf ' (dry run: nothing was changed)')"
  local host
  host="$(hostname 2>/dev/null || uname -n)"
  if [ -n "$TOKEN" ]; then
    printf '\nScout: http://%s.local:8080/   API token: %s\n' "$host" "$TOKEN"
  else
    printf '\nScout: http://%s.local:8080/   API token: in %s/api-token once installed\n' "$host" "$DATA_DIR"
  fi
  printf 'Health: /healthz, metrics: /metrics. Logs: journalctl -u scout -o cat\n'
  if [ "$REBOOT_NEEDED" -eq 1 ]; then
    printf '\nREBOOT NEEDED%s: config.txt changed (the button, LED%s overlays); sudo reboot\n' \
      "$(dry && printf ' (after a real run)')" "$([ "$HW_WATCHDOG" -eq 1 ] && printf ' and watchdog')"
  fi
}

main() {
  parse_args "$@"
  check_arch
  check_os
  dry || [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or add --dry-run"
  dry && say "dry run: nothing will be changed"
  detect_board
  SOURCE_HASH="$(bash "$SOURCE/scripts/source-hash.sh" "$SOURCE")"
  check_prebuilt
  choose_mic
  install_packages
  setup_user
  build_app
  install_app
  build_whisper
  write_config
  boot_config
  install_udev_rules
  install_models
  ensure_token
  install_avahi
  install_journald
  install_watchdog
  install_unit
  summary
}

# exit on the same line: bash reads a script as it runs, so an upgrade of this file mid-run (a
# git pull while it builds) must not make it read on into the new text.
main "$@"; exit
