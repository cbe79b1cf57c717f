#!/usr/bin/env bash
# Provisions a Raspberry Pi 4/5 on Raspberry Pi OS Bookworm (64-bit) as a Scout appliance:
# packages, the build, the `scout` user, /etc/scout/scout.json for the real hardware, the GPIO
# overlays, udev rules and the systemd unit. Run from a checkout: sudo provisioning/install-pi.sh
# Safe to run again (upgrades in place, keeps an existing /etc/scout/scout.json).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PREFIX=/opt/scout
CONFIG=/etc/scout/scout.json
BOOT_CONFIG=/boot/firmware/config.txt

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'install-pi: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
# Bookworm's own nodejs is 18; Scout needs 20 (install it from NodeSource's apt repository or similar).
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))"

say "packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  alsa-utils sox espeak-ng util-linux cmake g++ make python3 openssl ca-certificates rsync avahi-daemon

say "copying the project to $PREFIX"
mkdir -p "$PREFIX"
rsync -a --delete --exclude node_modules --exclude dist --exclude data --exclude .git "$SRC"/ "$PREFIX"/
cd "$PREFIX"
npm install --no-audit --no-fund   # not npm ci: see dev-setup.sh
bash scripts/build-whisper.sh
npm run build
# The whisper.cpp build cache stays: the service runs whisper-server from it.

say "the scout user"
getent group gpio >/dev/null || groupadd --system gpio
id scout >/dev/null 2>&1 || useradd --system --home-dir /var/lib/scout --shell /usr/sbin/nologin scout
usermod -a -G audio,input,gpio,video scout

say "configuration"
mkdir -p /etc/scout
if [ ! -f "$CONFIG" ]; then
  # Name the USB mic by its card id, not its number: numbers change after a replug or a reboot.
  card=$(awk -F'[][]' '/USB-Audio/ { gsub(/ /, "", $2); print $2; exit }' /proc/asound/cards || true)
  device="default"
  [ -n "$card" ] && device="plughw:CARD=${card},DEV=0"
  cat > "$CONFIG" <<JSON
{
  "dataDir": "/var/lib/scout",
  "audio": { "backend": "alsa", "device": "${device}", "sampleRateHz": 48000, "channels": 1 },
  "gpio": { "backend": "kernel", "buttonDevicePath": "/dev/input/by-path/platform-button@11-event" },
  "http": { "host": "0.0.0.0", "port": 8080 }
}
JSON
  echo "wrote $CONFIG (microphone: $device)"
else
  echo "keeping $CONFIG"
fi

say "Whisper models (tiny.en q8_0 = normal tier, q5_1 = under pressure; sha256-pinned)"
mkdir -p /var/lib/scout/models
for model in tiny.en-q8_0 tiny.en-q5_1; do
  if ! npx tsx scripts/fetch-model.ts --model "$model" --dir /var/lib/scout/models; then
    echo "download of $model failed: Scout still records and queues; run this script again when online"
  fi
done
chown -R scout:scout /var/lib/scout

say "GPIO overlays and udev rules"
if [ -f "$BOOT_CONFIG" ] && ! grep -q 'label=scout-button' "$BOOT_CONFIG"; then
  { echo ''; echo '# Scout: button and LEDs (hardware/README.md)'; cat hardware/overlays/config.txt.snippet; } >> "$BOOT_CONFIG"
  echo "added the overlays to $BOOT_CONFIG: reboot once for them to take effect"
fi
install -m 0644 hardware/overlays/99-scout-gpio.rules /etc/udev/rules.d/99-scout-gpio.rules
udevadm control --reload-rules || true

say "mDNS announcement (avahi)"
install -m 0644 provisioning/avahi/scout.service /etc/avahi/services/scout.service
systemctl reload avahi-daemon 2>/dev/null || true

say "systemd unit"
install -m 0644 systemd/scout.service /etc/systemd/system/scout.service
systemctl daemon-reload
systemctl enable --now scout.service
systemctl --no-pager status scout.service || true
echo
echo "Scout is installed. Page and API: http://$(hostname).local:8080  (health: /healthz, metrics: /metrics)"
