#!/usr/bin/env bash
# The hash of what the compiled JS (dist/) is made from: every file under src/ and scripts/ (what
# tsconfig.build.json includes), bench/ and test/ (scripts/soak.ts imports from both, and tsc
# compiles what is imported), the package files (the lock pins TypeScript and the types) and the
# tsconfigs. dist/ is CPU
# independent, so a build made on another machine from sources with this hash is the same build.
# provisioning/install-pi.sh (its staging build and --dist) and scripts/pi/build-dist.sh use it.
#
# Usage: scripts/source-hash.sh [DIR]   prints the sha256 (hex) of the checkout DIR (default: this one)
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$dir"
paths=()
for path in src scripts bench test package.json package-lock.json tsconfig.json tsconfig.build.json; do
  [[ -e "$path" ]] && paths+=("$path")
done
# LC_ALL=C: the same order on every machine, whatever its locale.
find "${paths[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
