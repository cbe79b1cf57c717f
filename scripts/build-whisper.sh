#!/usr/bin/env bash
# Build whisper.cpp's whisper-server and whisper-cli from a pinned source, once per
# (source, flags, arch, compiler, CPU) key, into .cache/whisper/<key>/bin/.
#
# Source: the npm package nodejs-whisper@0.3.1 carries a complete whisper.cpp 1.9.1 tree with
# CMake. We only use that tree; the package's own JS and prebuilt bits are ignored. Fetched with
# `npm pack` (works wherever the npm registry works, which is every dev/CI machine and the Pi's
# provisioning), and checked against the pinned sha512 below before anything is extracted.
#
# Usage: scripts/build-whisper.sh [--quiet] [--board pi4|pi5] [--cross aarch64]
#   --board pi4|pi5   build for that board's CPU (-mcpu=cortex-a72 / -mcpu=cortex-a76) instead of
#                     "native": GGML_NATIVE=OFF. Use it on a Pi too: a build is only valid for the
#                     board it was made for (a Pi 5 build uses dotprod/fp16 and dies with SIGILL
#                     on a Pi 4; test/pi proves both under qemu).
#   --cross aarch64   cross-compile on an x86-64 machine with Debian's aarch64-linux-gnu-gcc/g++
#                     (needs --board: "native" would describe the build machine). A cross build
#                     never moves the `current` link, which names this machine's own build.
#   SCOUT_CACHE_DIR   cache root (default: <repo>/.cache)
#   SCOUT_WHISPER_JOBS  parallel jobs (default: nproc)
# Prints the bin dir as the LAST line of stdout; progress goes to stderr.
# Next to bin/ it writes build-info (key=value lines: board, mcpu, arch, source_sha256, targets,
# key, compiler): what provisioning/install-pi.sh --whisper-build checks before it imports a build
# made on another machine.
set -euo pipefail

PKG="nodejs-whisper@0.3.1"
TARBALL="nodejs-whisper-0.3.1.tgz"
# `npm view nodejs-whisper@0.3.1 dist.integrity`; also checked as sha256 of the tarball below.
PINNED_SHA512_B64="ceoilUVraRuR5FnNyXpGQT2auAR48Oc3AQBEmkXnVpSn9iN6yVRzQBFCqVTGWbk6Wdi95NhvwXNzFvuR7erLWw=="
PINNED_SHA256="92041caf2b26c74b7f489fedf37bd093f216eebd61df512045ec2d19d0531d37"
SRC_SUBDIR="package/cpp/whisper.cpp"

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${SCOUT_CACHE_DIR:-$REPO_DIR/.cache}"
WHISPER_DIR="$CACHE_DIR/whisper"
SRC_CACHE="$CACHE_DIR/whisper-src"
JOBS="${SCOUT_WHISPER_JOBS:-$(nproc)}"

log() { printf '[build-whisper] %s\n' "$*" >&2; }

# Flags that define the binaries. GGML_NATIVE=ON: -march=native on x86-64; on arm64 ggml asks
# gcc what -mcpu=native means and uses that (cortex-a72 on a Pi 4: armv8-a+crc, no dotprod/fp16;
# cortex-a76 on a Pi 5: armv8.2-a+dotprod+fp16). So a Pi 5 build raises SIGILL on a Pi 4: the key
# below includes the resolved CPU so a copied cache is never reused on a different CPU.
# GGML_OPENMP=OFF: ggml's own thread pool; OpenMP's spinning workers would compete with capture.
# BUILD_SHARED_LIBS=OFF: the binaries are self-contained and run from the cache as they are.
# Pi notes: gcc 12 (Bookworm) is enough; ggml probes dotprod/i8mm/sve/sme with test programs and
# finds none on a Pi 4, so it builds plain NEON code there. KleidiAI stays off (its default) as it
# would download sources. Compiling whisper.cpp.o at -O3 takes ~1 GB: on a 2 GB Pi 4 set
# SCOUT_WHISPER_JOBS=2. Flash attention is not a build option: whisper-server takes -fa at run time.
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=ON
  -DGGML_OPENMP=OFF
  -DGGML_CCACHE=OFF
  -DWHISPER_BUILD_TESTS=OFF
  -DWHISPER_BUILD_EXAMPLES=ON
  -DWHISPER_BUILD_SERVER=ON
  -DWHISPER_SDL2=OFF
  -DWHISPER_CURL=OFF
  -DWHISPER_FFMPEG=OFF
)
# whisper-quantize makes q8_0 models from f16 ones (tests and benchmarks quantize generated models).
TARGETS=(whisper-server whisper-cli whisper-quantize)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
sha512_b64_of() { openssl dgst -sha512 -binary "$1" | base64 -w0; }

fetch_source() {
  mkdir -p "$SRC_CACHE"
  local tgz="$SRC_CACHE/$TARBALL"
  if [[ -f "$tgz" ]] && [[ "$(sha256_of "$tgz")" == "$PINNED_SHA256" ]]; then
    log "source tarball cached: $tgz"
  else
    rm -f "$tgz"
    log "fetching $PKG with npm pack"
    (cd "$SRC_CACHE" && npm pack "$PKG" --silent >/dev/null)
  fi
  local got512 got256
  got512="$(sha512_b64_of "$tgz")"
  got256="$(sha256_of "$tgz")"
  if [[ "$got512" != "$PINNED_SHA512_B64" || "$got256" != "$PINNED_SHA256" ]]; then
    log "INTEGRITY MISMATCH for $tgz"
    log "  sha512 expected $PINNED_SHA512_B64 got $got512"
    log "  sha256 expected $PINNED_SHA256 got $got256"
    rm -f "$tgz"
    exit 3
  fi
  log "integrity ok (sha512-$PINNED_SHA512_B64)"
}

# What -march/-mcpu=native resolves to on this machine, so a cache is never reused on another CPU.
native_cpu() {
  case "$(uname -m)" in
    x86_64)
      # awk reads to the end: exiting early would SIGPIPE gcc, and pipefail would make that fatal.
      gcc -march=native -Q --help=target 2>/dev/null | awk '$1=="-march=" && !found {print $2; found=1}'
      ;;
    aarch64|arm64)
      # gcc prints the -mcpu it picked for "native" in its cc1 command line; the CPU part number
      # (0xd08 Cortex-A72 on a Pi 4, 0xd0b Cortex-A76 on a Pi 5) covers a gcc that prints nothing.
      echo | gcc -mcpu=native -E -v - 2>&1 | grep -o -- '-mcpu=[^ ]*' | grep -v 'mcpu=native' | head -1
      grep -m1 'CPU part' /proc/cpuinfo | tr -d ' \t' || true
      ;;
    *) uname -m ;;
  esac
}

BOARD=""
CROSS=""
CC_BIN=gcc
CXX_BIN=g++
TARGET_ARCH="$(uname -m)"

# Turns --board/--cross into compilers and CMake flags. The CPU goes in as -mcpu for every file
# (C and C++), so ggml's own feature checks (__ARM_FEATURE_DOTPROD, ..._FP16_VECTOR_ARITHMETIC)
# see exactly what the board has: gcc's cortex-a72 is armv8-a+crc (no dotprod, no fp16
# arithmetic), cortex-a76 is armv8.2-a with dotprod and fp16.
apply_target() {
  local mcpu=""
  case "$BOARD" in
    "") ;;
    pi4) mcpu=cortex-a72 ;;
    pi5) mcpu=cortex-a76 ;;
    *) log "unknown board '$BOARD' (pi4 or pi5)"; exit 2 ;;
  esac
  if [[ -n "$mcpu" ]]; then
    local i
    for i in "${!CMAKE_FLAGS[@]}"; do
      [[ "${CMAKE_FLAGS[$i]}" == -DGGML_NATIVE=ON ]] && CMAKE_FLAGS[i]=-DGGML_NATIVE=OFF
    done
    CMAKE_FLAGS+=("-DCMAKE_C_FLAGS=-mcpu=$mcpu" "-DCMAKE_CXX_FLAGS=-mcpu=$mcpu")
  fi
  case "$CROSS" in
    "") ;;
    aarch64)
      [[ -n "$BOARD" ]] || { log "--cross needs --board: there is no 'native' CPU to build for"; exit 2; }
      CC_BIN=aarch64-linux-gnu-gcc
      CXX_BIN=aarch64-linux-gnu-g++
      TARGET_ARCH=aarch64
      command -v "$CXX_BIN" >/dev/null || { log "$CXX_BIN not installed (Debian packages gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)"; exit 2; }
      CMAKE_FLAGS+=(
        -DCMAKE_SYSTEM_NAME=Linux
        -DCMAKE_SYSTEM_PROCESSOR=aarch64
        "-DCMAKE_C_COMPILER=$CC_BIN"
        "-DCMAKE_CXX_COMPILER=$CXX_BIN"
        -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER
      )
      ;;
    *) log "unknown cross target '$CROSS' (aarch64)"; exit 2 ;;
  esac
  if [[ -n "$BOARD" ]]; then
    case "$TARGET_ARCH" in
      aarch64|arm64) ;;
      *) log "--board $BOARD builds for arm64: run it on the Pi or add --cross aarch64"; exit 2 ;;
    esac
  fi
}

compute_key() {
  {
    echo "src=$PINNED_SHA512_B64"
    echo "flags=${CMAKE_FLAGS[*]}"
    echo "targets=${TARGETS[*]}"
    echo "arch=$TARGET_ARCH"
    echo "cc=$($CC_BIN --version | head -1)"
    echo "cxx=$($CXX_BIN --version | head -1)"
    echo "cmake=$(cmake --version | head -1)"
    # A --board build is defined by its -mcpu (in the flags), not by the machine building it.
    if [[ -z "$BOARD" ]]; then echo "cpu=$(native_cpu)"; fi
  } | sha256sum | cut -c1-16
}

# What a build is, for whoever imports it (install-pi.sh --whisper-build): written atomically,
# and only when it differs, so a cached build's files keep their times.
write_build_info() {
  local out="$1" key="$2" mcpu="" tmp
  case "$BOARD" in
    pi4) mcpu=cortex-a72 ;;
    pi5) mcpu=cortex-a76 ;;
    "") mcpu="native ($(native_cpu | head -1))" ;;
  esac
  tmp="$(mktemp "$out/.build-info.XXXXXX")"
  {
    echo "format=1"
    echo "board=${BOARD:-native}"
    echo "mcpu=$mcpu"
    echo "arch=$TARGET_ARCH"
    echo "source=$PKG (whisper.cpp 1.9.1)"
    echo "source_sha256=$PINNED_SHA256"
    echo "targets=${TARGETS[*]}"
    echo "key=$key"
    echo "compiler=$($CXX_BIN --version | head -1)"
  } >"$tmp"
  if cmp -s "$tmp" "$out/build-info"; then rm -f "$tmp"; else chmod 0644 "$tmp"; mv -f "$tmp" "$out/build-info"; fi
}

main() {
  case "$(uname -m)" in
    x86_64|aarch64|arm64) ;;
    # 32-bit Raspberry Pi OS (armv7l) is not a target: the appliance needs the 64-bit OS.
    *) log "unsupported architecture $(uname -m): build on x86-64 or 64-bit arm (Raspberry Pi OS 64-bit)"; exit 2 ;;
  esac
  local quiet=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --quiet) quiet=1 ;;
      --board) BOARD="${2:-}"; shift ;;
      --cross) CROSS="${2:-}"; shift ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
    shift
  done
  apply_target
  mkdir -p "$WHISPER_DIR"
  local key out
  key="$(compute_key)"
  out="$WHISPER_DIR/$key"
  if [[ -x "$out/bin/whisper-server" && -x "$out/bin/whisper-cli" && -x "$out/bin/whisper-quantize" && -f "$out/.complete" ]]; then
    log "up to date: key $key"
  else
    # One build at a time per cache: vitest workers or a second shell wait here instead of
    # building the same tree twice on two cores.
    exec 9>"$WHISPER_DIR/.lock"
    flock 9
    if [[ -f "$out/.complete" ]]; then
      log "built by another process meanwhile: key $key"
    else
      fetch_source
      local started=$SECONDS
      rm -rf "$out"
      mkdir -p "$out"
      log "extracting whisper.cpp 1.9.1 tree"
      tar xzf "$SRC_CACHE/$TARBALL" -C "$out" "$SRC_SUBDIR"
      local src="$out/$SRC_SUBDIR" build="$out/build"
      log "configuring (key $key, board: ${BOARD:-native ($(native_cpu))}, compiler: $CXX_BIN)"
      if [[ $quiet == 1 ]]; then
        cmake -S "$src" -B "$build" "${CMAKE_FLAGS[@]}" >"$out/configure.log" 2>&1 \
          || { tail -50 "$out/configure.log" >&2; exit 4; }
      else
        cmake -S "$src" -B "$build" "${CMAKE_FLAGS[@]}" >&2
      fi
      log "building ${TARGETS[*]} with -j$JOBS"
      if [[ $quiet == 1 ]]; then
        cmake --build "$build" --config Release -j"$JOBS" --target "${TARGETS[@]}" >"$out/build.log" 2>&1 \
          || { tail -80 "$out/build.log" >&2; exit 5; }
      else
        cmake --build "$build" --config Release -j"$JOBS" --target "${TARGETS[@]}" >&2
      fi
      mkdir -p "$out/bin"
      for t in "${TARGETS[@]}"; do cp "$build/bin/$t" "$out/bin/$t"; done
      # The source and objects are only needed to build; keep the cache small on an SD card.
      rm -rf "$build" "$out/package"
      echo "$((SECONDS - started))" >"$out/build-seconds"
      touch "$out/.complete"
      log "built in $((SECONDS - started)) s"
    fi
    flock -u 9
  fi
  # Also for a build cached before build-info existed: it describes the key, not the run.
  write_build_info "$out" "$key"
  # A new link renamed over the old one: vitest workers run this at the same time, and two
  # `ln -sfn` on one name can fail with EEXIST between the unlink and the symlink.
  if [[ -z "$CROSS" ]]; then ln -sfn "$key" "$WHISPER_DIR/.current.$$" && mv -Tf "$WHISPER_DIR/.current.$$" "$WHISPER_DIR/current"; fi
  log "binaries: $out/bin (whisper-server, whisper-cli, whisper-quantize); link: $WHISPER_DIR/current"
  echo "$out/bin"
}

# exit on the same line: bash reads a script as it runs, so an edit of this file during a long
# build must not make it read on into the new text.
main "$@"; exit
