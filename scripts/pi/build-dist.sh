#!/usr/bin/env bash
# The appliance's compiled JS (dist/), made on a faster machine for provisioning/install-pi.sh
# --dist: tsc's output is CPU independent, and compiling under a Pi's (or qemu's) CPU takes minutes
# plus the dev dependencies on the box. The sources are copied to a staging dir first and hashed
# there (scripts/source-hash.sh), so the stamp names exactly what was compiled even if the checkout
# changes meanwhile; install-pi.sh uses the build only when that stamp equals its own checkout's hash.
#
# Usage: scripts/pi/build-dist.sh [--source DIR] OUT
#   --source DIR  the checkout to compile (default: the one holding this script); tsc and the
#                 types come from DIR/node_modules, else from this checkout's node_modules
#   OUT           made (or replaced) with dist's tree: OUT/src/main.js, ..., OUT/.scout-source.sha256
# Prints OUT as the last line of stdout.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf '[build-dist] %s\n' "$*" >&2; }

source_dir="$REPO_DIR"
if [[ "${1:-}" == --source ]]; then source_dir="${2:?--source needs a directory}"; shift 2; fi
out="${1:?usage: build-dist.sh [--source DIR] OUT}"
source_dir="$(cd "$source_dir" && pwd)"
modules="$source_dir/node_modules"
[[ -x "$modules/.bin/tsc" ]] || modules="$REPO_DIR/node_modules"
[[ -x "$modules/.bin/tsc" ]] || { log "no tsc in $source_dir/node_modules or $REPO_DIR/node_modules (npm install)"; exit 2; }

stage="$(mktemp -d "${TMPDIR:-/tmp}/scout-dist-XXXXXX")"
trap 'rm -rf "$stage"' EXIT
# What source-hash.sh hashes, and nothing else.
(cd "$source_dir" && cp -a --parents src scripts bench test package.json package-lock.json tsconfig.json tsconfig.build.json "$stage/")
ln -s "$(realpath "$modules")" "$stage/node_modules"
hash="$(bash "$stage/scripts/source-hash.sh" "$stage")"
log "compiling $source_dir (sources $hash)"
(cd "$stage" && ./node_modules/.bin/tsc -p tsconfig.build.json) >&2
printf '%s\n' "$hash" >"$stage/dist/.scout-source.sha256"
mkdir -p "$(dirname "$out")"
rm -rf "$out.partial"
cp -a "$stage/dist" "$out.partial"
rm -rf "$out"
mv -T "$out.partial" "$out"
log "done: $out"
echo "$out"
