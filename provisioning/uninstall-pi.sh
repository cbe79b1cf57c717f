#!/usr/bin/env bash
# Takes off what provisioning/install-pi.sh put on the box. The recordings, the database, the token
# and the models in /var/lib/scout stay unless --purge: they are the owner's data, not the app's.
# Safe to run again: what is already gone is skipped.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo provisioning/uninstall-pi.sh [options]

Options:
  --dry-run       print every step and the commands it would run ("would: ..."); change nothing
  --root DIR      edit DIR/boot/firmware/config.txt instead of /boot/firmware/config.txt (tests)
  --no-systemd    no systemctl calls (a chroot): the unit and its enable link are removed by hand
  --remove-user   also delete the scout user and group (the gpio group stays: Pi OS uses it)
  --purge         also delete /var/lib/scout (recordings, database, token, models) and /etc/scout
  -h, --help      this text
Kept unless asked: /var/lib/scout, /etc/scout, the scout user, Node.js and the Debian packages.
EOF
}

PREFIX=/opt/scout
BUILD_DIR=/var/cache/scout
DATA_DIR=/var/lib/scout
UNIT=/etc/systemd/system/scout.service
BLOCK_BEGIN='# >>> scout (managed by provisioning/install-pi.sh; edits here are replaced)'
BLOCK_END='# <<< scout'

DRY_RUN=0
ROOT=""
NO_SYSTEMD=0
REMOVE_USER=0
PURGE=0
REBOOT_NEEDED=0

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'uninstall-pi: %s\n' "$*" >&2; exit 1; }
dry() { [ "$DRY_RUN" -eq 1 ]; }
run() {
  if dry; then
    printf 'would:'; printf ' %q' "$@"; printf '\n'
  else
    printf 'run:'; printf ' %q' "$@"; printf '\n'
    "$@"
  fi
}

# remove PATH...: rm -rf of those that exist.
remove() {
  local path
  for path in "$@"; do
    if [ -e "$path" ] || [ -L "$path" ]; then run rm -rf "$path"; else note "already gone: $path"; fi
  done
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --root) [ -n "${2:-}" ] || die "--root needs a value"; ROOT="${2%/}"; shift ;;
      --no-systemd) NO_SYSTEMD=1 ;;
      --remove-user) REMOVE_USER=1 ;;
      --purge) PURGE=1 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
  done
}

stop_service() {
  say "stopping the service"
  if [ "$NO_SYSTEMD" -eq 1 ]; then
    note "skipped (--no-systemd): systemctl disable --now scout.service"
  elif systemctl list-unit-files scout.service >/dev/null 2>&1 && [ -f "$UNIT" ]; then
    run systemctl disable --now scout.service
  else
    note "no scout.service unit"
  fi
  remove /etc/systemd/system/multi-user.target.wants/scout.service "$UNIT" /etc/systemd/system/scout.service.d
}

remove_files() {
  say "the app, the build cache and the drop-ins"
  local journald=/etc/systemd/journald.conf.d/scout.conf watchdog=/etc/systemd/system.conf.d/scout-watchdog.conf
  local avahi=/etc/avahi/services/scout.service had_journald=0 had_watchdog=0 had_avahi=0
  [ ! -e "$journald" ] || had_journald=1
  [ ! -e "$watchdog" ] || had_watchdog=1
  [ ! -e "$avahi" ] || had_avahi=1
  remove "$PREFIX" "$BUILD_DIR" "$avahi" /etc/udev/rules.d/99-scout-gpio.rules "$journald" "$watchdog"
  [ "$NO_SYSTEMD" -eq 0 ] || { note "skipped (--no-systemd): systemctl daemon-reload"; return; }
  run systemctl daemon-reload
  # journald, the manager and avahi read their drop-ins only when told to.
  [ "$had_journald" -eq 0 ] || run systemctl restart systemd-journald.service
  [ "$had_watchdog" -eq 0 ] || run systemctl daemon-reexec
  [ "$had_avahi" -eq 0 ] || run systemctl reload-or-restart avahi-daemon.service
}

boot_config() {
  local config="$ROOT/boot/firmware/config.txt"
  say "config.txt: the scout block in $config"
  if [ ! -f "$config" ] || ! grep -qxF "$BLOCK_BEGIN" "$config"; then
    note "no scout block"
    return
  fi
  run cp -p "$config" "$config.scout-$(date +%Y%m%d-%H%M%S).bak"
  if dry; then
    printf 'would: remove the lines from "%s" to "%s" in %s\n' "$BLOCK_BEGIN" "$BLOCK_END" "$config"
  else
    local new
    printf 'run: remove the scout block from %s\n' "$config"
    new="$(awk -v b="$BLOCK_BEGIN" -v e="$BLOCK_END" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$config")"
    printf '%s\n' "$new" >"$config"
    sync
  fi
  REBOOT_NEEDED=1
}

remove_data() {
  if [ "$PURGE" -eq 1 ]; then
    say "purging the data (--purge): recordings, database, token, models, config"
    remove "$DATA_DIR" /etc/scout
  else
    say "keeping $DATA_DIR (recordings, database, token, models) and /etc/scout: --purge deletes them"
  fi
  if [ "$REMOVE_USER" -eq 1 ]; then
    say "the scout user (--remove-user)"
    if id scout >/dev/null 2>&1; then run userdel scout; else note "already gone: user scout"; fi
    if getent group scout >/dev/null; then run groupdel scout; fi
    [ "$PURGE" -eq 1 ] || note "$DATA_DIR stays, owned by a number now; chown it or run with --purge"
  fi
}

main() {
  parse_args "$@"
  dry || [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or add --dry-run"
  dry && say "dry run: nothing will be changed"
  stop_service
  remove_files
  boot_config
  remove_data
  say "done$(dry && printf ' (dry run: nothing was changed)')"
  if [ "$REBOOT_NEEDED" -eq 1 ]; then note "reboot once to drop the button/LED overlays: sudo reboot"; fi
}

# exit on the same line: bash reads a script as it runs (see install-pi.sh).
main "$@"; exit
