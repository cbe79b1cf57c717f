import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.js';

/**
 * provisioning/install-pi.sh and uninstall-pi.sh with --dry-run, run for real against a test root
 * (--root) that holds the facts of a Pi: its sound cards, device-tree model, CPU, kernel arch,
 * os-release and config.txt. The plan they print is checked, and so is the promise that a dry run
 * changes nothing: the test root and every path the install writes are listed before and after.
 * (A real run, twice, with nothing changed by the second, belongs to test/pi: an arm64 rootfs under qemu.)
 */

const INSTALL = join(PROJECT_ROOT, 'provisioning/install-pi.sh');
const UNINSTALL = join(PROJECT_ROOT, 'provisioning/uninstall-pi.sh');
// Everything the install writes outside the test root (and the checkout it reads).
const SYSTEM_PATHS = [
  '/opt/scout',
  '/var/cache/scout',
  '/var/lib/scout',
  '/etc/scout',
  '/etc/systemd/system/scout.service',
  '/etc/systemd/system/multi-user.target.wants/scout.service',
  '/etc/systemd/journald.conf.d/scout.conf',
  '/etc/systemd/system.conf.d/scout-watchdog.conf',
  '/etc/avahi/services/scout.service',
  '/etc/udev/rules.d/99-scout-gpio.rules',
  '/etc/apt/sources.list.d/nodesource.list',
  '/usr/local/lib/nodejs',
];

const USB_MIC_CARDS = [
  ' 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0',
  '                      vc4-hdmi-0',
  ' 2 [Device         ]: USB-Audio - USB PnP Sound Device',
  '                      C-Media Electronics Inc. USB PnP Sound Device at usb-0000:01:00.0-1.3, full speed',
  '',
].join('\n');
const PI_OS_CONFIG_TXT = '# For more options and information see\n[all]\ndtparam=audio=on\ncamera_auto_detect=1\n';

interface FakePi {
  readonly arch?: string;
  readonly codename?: string;
  readonly model?: string | null;
  readonly cpuPart?: string;
  readonly cards?: string;
  readonly configTxt?: string | null;
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let baseDir: string;
let rootCount = 0;

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'scout-install-dry-'));
});
afterAll(async () => {
  await rm(baseDir, { recursive: true, force: true });
});

async function fakePiRoot(pi: FakePi = {}): Promise<string> {
  const root = join(baseDir, `root-${rootCount++}`);
  await mkdir(join(root, 'proc/asound'), { recursive: true });
  await mkdir(join(root, 'proc/sys/kernel'), { recursive: true });
  await mkdir(join(root, 'proc/device-tree'), { recursive: true });
  await mkdir(join(root, 'boot/firmware'), { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'proc/sys/kernel/arch'), `${pi.arch ?? 'aarch64'}\n`);
  const codename = pi.codename ?? 'trixie';
  await writeFile(join(root, 'etc/os-release'), `PRETTY_NAME="Debian GNU/Linux (${codename})"\nID=debian\nVERSION_CODENAME=${codename}\n`);
  // The device tree's model string ends with a NUL, as on a real Pi.
  const model = pi.model === undefined ? 'Raspberry Pi 4 Model B Rev 1.4' : pi.model;
  if (model !== null) await writeFile(join(root, 'proc/device-tree/model'), `${model}\0`);
  if (pi.cpuPart) await writeFile(join(root, 'proc/cpuinfo'), `processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: ${pi.cpuPart}\n`);
  await writeFile(join(root, 'proc/asound/cards'), pi.cards ?? USB_MIC_CARDS);
  const configTxt = pi.configTxt === undefined ? PI_OS_CONFIG_TXT : pi.configTxt;
  if (configTxt !== null) await writeFile(join(root, 'boot/firmware/config.txt'), configTxt);
  return root;
}

function runScript(script: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every entry under the paths: type, mode, size, mtime and, for files, the content's sha256. */
async function snapshot(paths: readonly string[]): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  async function visit(path: string): Promise<void> {
    let info;
    try {
      info = await lstat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        entries.set(path, 'absent');
        return;
      }
      throw error;
    }
    let what = `${info.mode.toString(8)} ${info.size} ${info.mtimeMs}`;
    if (info.isFile()) what += ` ${createHash('sha256').update(await readFile(path)).digest('hex')}`;
    entries.set(path, what);
    if (info.isDirectory()) {
      for (const name of (await readdir(path)).sort()) await visit(join(path, name));
    }
  }
  for (const path of paths) await visit(path);
  return entries;
}

/** The "==> step" headings, in order. */
function steps(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line.startsWith('==> ')).map((line) => line.slice(4));
}

/** The block the dry run says it would put into config.txt (the "| " lines after "would: replace"). */
function plannedBlock(stdout: string): string {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith('would: replace the scout block of '));
  expect(start).toBeGreaterThanOrEqual(0);
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^ {8}\| (.*)$/.exec(line);
    if (!match) break;
    block.push(match[1] ?? '');
  }
  return `${block.join('\n')}\n`;
}

describe('install-pi.sh --dry-run', () => {
  it('plans every step for a Pi 4 on trixie, and changes nothing on the box or in the test root', async () => {
    const root = await fakePiRoot();
    const before = await snapshot([root, ...SYSTEM_PATHS]);
    const result = await runScript(INSTALL, ['--dry-run', '--root', root]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(steps(result.stdout)).toEqual([
      'architecture',
      'operating system',
      'dry run: nothing will be changed',
      'board',
      'microphone',
      'Node.js and Debian packages',
      'the scout user and its groups',
      'building the app (staging copy in /var/cache/scout/build)',
      'the app in /opt/scout',
      'whisper.cpp for pi4 (-mcpu=cortex-a72)',
      'configuration /etc/scout/scout.json',
      `config.txt: GPIO overlays in ${root}/boot/firmware/config.txt`,
      'udev rules for the LEDs',
      'Whisper models in /var/lib/scout/models (sha256-pinned)',
      'API token',
      'mDNS announcement (avahi)',
      'journald limits',
      'hardware watchdog (off)',
      'systemd unit',
      'done (dry run: nothing was changed)',
    ]);
    const out = result.stdout;
    expect(out).toContain('trixie (Debian 13): Node.js 20 from its own packages');
    // The board's CPU, explicitly: never "native".
    expect(out).toContain('pi4: whisper.cpp built with -mcpu=cortex-a72, GGML_NATIVE=OFF');
    expect(out).toMatch(/would: \(cd \/opt\/scout && env SCOUT_CACHE_DIR=\/opt\/scout\/\.cache bash scripts\/build-whisper\.sh --quiet --board pi4\)/);
    // The USB mic by its card id, which survives replugs and reboots.
    expect(out).toContain(`plughw:CARD=Device,DEV=0 (first USB-Audio card in ${root}/proc/asound/cards)`);
    expect(out).toContain('|   "audio": { "backend": "alsa", "device": "plughw:CARD=Device,DEV=0", "sampleRateHz": 48000, "channels": 1 },');
    expect(out).toContain('|   "http": { "host": "0.0.0.0", "port": 8080 }');
    expect(out).toContain('|   "gpio": { "backend": "kernel"');
    // config.txt: a dated backup before the edit, the overlays in a marked [all] block, a reboot notice.
    const config = `${root}/boot/firmware/config.txt`;
    expect(out).toMatch(new RegExp(`would: cp -p ${config} ${config}\\.scout-\\d{8}-\\d{6}\\.bak\\n`));
    const block = plannedBlock(out);
    expect(block).toMatch(/^# >>> scout .*\n\[all\]\n/);
    expect(block).toContain('dtoverlay=gpio-key,gpio=17,active_low=1,gpio_pull=up,keycode=167,label=scout-button\n');
    expect(block).toContain('dtoverlay=gpio-led,gpio=22,label=scout-status,trigger=heartbeat\n');
    expect(block).not.toContain('watchdog');
    expect(out).toContain('REBOOT NEEDED (after a real run): config.txt changed');
    // The app: without dev dependencies, the build cache and data protected from rsync --delete.
    expect(out).toMatch(/would: \(cd \/opt\/scout && npm install --omit=dev /);
    expect(out).toMatch(/would: rsync -a --delete \S+\/ \/opt\/scout\//);
    expect(await readFile(INSTALL, 'utf8')).toMatch(/RSYNC_EXCLUDES=\(--exclude \/\.git --exclude \/node_modules --exclude \/\.cache --exclude \/data/);
    // Models from the pins (no --model-file), the token, avahi, journald capped on the card.
    expect(out).toContain('fetch-model.js --model tiny.en-q8_0 --dir /var/lib/scout/models');
    expect(out).toContain('fetch-model.js --model tiny.en-q5_1 --dir /var/lib/scout/models');
    expect(out).toMatch(/would: write \/var\/lib\/scout\/api-token \(32 random bytes, base64url, mode 0600, owner scout\)|present: \/var\/lib\/scout\/api-token/);
    expect(out).toMatch(/would: install -D -m 0644 \S+\/provisioning\/avahi\/scout\.service \/etc\/avahi\/services\/scout\.service/);
    expect(out).toContain('| SystemMaxUse=50M');
    expect(out).toMatch(/would: install -D -m 0644 \S+\/systemd\/scout\.service \/etc\/systemd\/system\/scout\.service/);
    expect(out).toContain('where it has no binary, install /etc/systemd/system/scout.service.d/notify-cli.conf (NotifyAccess=all)');
    expect(out).toMatch(/Scout: http:\/\/\S+\.local:8080\//);

    expect(await snapshot([root, ...SYSTEM_PATHS])).toEqual(before);
  });

  it('builds for a Pi 5 found by its CPU part, and plans the watchdog, logs in RAM and the chosen mic', async () => {
    const root = await fakePiRoot({ model: null, cpuPart: '0xd0b' });
    const before = await snapshot([root, ...SYSTEM_PATHS]);
    const result = await runScript(INSTALL, ['--dry-run', '--root', root, '--hardware-watchdog', '--logs-in-ram', '--mic', 'Headset']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('pi5: whisper.cpp built with -mcpu=cortex-a76, GGML_NATIVE=OFF');
    expect(out).toContain('build-whisper.sh --quiet --board pi5');
    expect(out).toContain('plughw:CARD=Headset,DEV=0 (--mic)');
    expect(plannedBlock(out)).toContain('dtparam=watchdog=on\n');
    expect(out).toContain('| RuntimeWatchdogSec=15');
    expect(out).toContain('| Storage=volatile');
    expect(out).not.toContain('SystemMaxUse');
    expect(out).toContain('and watchdog overlays');
    expect(await snapshot([root, ...SYSTEM_PATHS])).toEqual(before);
  });

  it('leaves config.txt alone when its scout block is already what it should be', async () => {
    const first = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot()]);
    const block = plannedBlock(first.stdout);
    const root = await fakePiRoot({ configTxt: `${PI_OS_CONFIG_TXT}${block}` });
    const result = await runScript(INSTALL, ['--dry-run', '--root', root]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`unchanged: ${root}/boot/firmware/config.txt`);
    expect(result.stdout).not.toContain('would: cp -p');
    expect(result.stdout).not.toContain('REBOOT NEEDED');
    // Asking for the watchdog later replaces the block (one line more), with a backup again.
    const watchdog = await runScript(INSTALL, ['--dry-run', '--root', root, '--hardware-watchdog']);
    expect(watchdog.stdout).toContain('would: cp -p');
    expect(plannedBlock(watchdog.stdout)).toBe(block.replace('# <<< scout\n', 'dtparam=watchdog=on\n# <<< scout\n'));
  });

  it('uses the default device, and says so, when no USB mic is plugged in', async () => {
    const root = await fakePiRoot({ cards: ' 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n                      vc4-hdmi-0\n' });
    const result = await runScript(INSTALL, ['--dry-run', '--root', root]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('no USB-Audio card in');
    expect(result.stdout).toContain('"device": "default"');
  });

  it('refuses a 32-bit system clearly, before planning anything', async () => {
    const root = await fakePiRoot({ arch: 'armv7l' });
    const result = await runScript(INSTALL, ['--dry-run', '--root', root]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('this is a armv7l system: Scout needs the 64-bit Raspberry Pi OS (aarch64)');
    expect(steps(result.stdout)).toEqual(['architecture']);
  });

  it('refuses a release other than trixie or bookworm, and a board it cannot tell without --board', async () => {
    const bullseye = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot({ codename: 'bullseye' })]);
    expect(bullseye.code).toBe(1);
    expect(bullseye.stderr).toContain("release 'bullseye'");
    const unknown = await fakePiRoot({ model: 'Some Board', cpuPart: '0xd03' });
    const noBoard = await runScript(INSTALL, ['--dry-run', '--root', unknown]);
    expect(noBoard.code).toBe(1);
    expect(noBoard.stderr).toContain('give --board pi4 or --board pi5');
    const forced = await runScript(INSTALL, ['--dry-run', '--root', unknown, '--board', 'pi4']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('-mcpu=cortex-a72');
  });

  it('plans bookworm from its os-release, and rejects unknown flags and a missing model file', async () => {
    const bookworm = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot({ codename: 'bookworm' })]);
    expect(bookworm.code).toBe(0);
    expect(bookworm.stdout).toContain('bookworm (Debian 12): Node.js 20 from NodeSource');
    const unknown = await runScript(INSTALL, ['--dry-run', '--frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown option: --frobnicate');
    const noModel = await runScript(INSTALL, ['--dry-run', '--model-file', join(baseDir, 'absent.bin')]);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toContain('does not exist');
  });

  it('with --skip-apt, names exactly the needed packages that dpkg says are not installed', async () => {
    const result = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot(), '--skip-apt']);
    expect(result.stdout).not.toContain('would: apt-get');
    const listed = /--skip-apt, but these packages are missing: (.*)/.exec(result.stderr)?.[1]?.split(' ') ?? [];
    expect(result.code).toBe(listed.length > 0 ? 1 : 0);
    if (listed.length === 0) expect(result.stdout).toContain('packages: all present (--skip-apt)');
    const script = await readFile(INSTALL, 'utf8');
    const needed = /^PACKAGES=\(([^)]*)\)/m.exec(script)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    expect(needed).toContain('alsa-utils');
    for (const name of needed) {
      const status = await new Promise<string>((resolve) => {
        execFile('dpkg-query', ['-W', '-f=${Status}', name], (_error, stdout) => resolve(stdout));
      });
      expect({ name, missing: listed.includes(name) }).toEqual({ name, missing: status !== 'install ok installed' });
    }
  });

  it('plans the model from --model-file instead of a download', async () => {
    const model = join(baseDir, 'model.bin');
    await writeFile(model, 'not a real model');
    const result = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot(), '--model-file', model, '--allow-unpinned-model']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`fetch-model.js --model tiny.en-q8_0 --dir /var/lib/scout/models --file ${model} --allow-unpinned`);
    expect(result.stdout).not.toContain('--model tiny.en-q5_1');
  });
});

/** A file that starts like an ELF executable for a CPU (e_machine: 0xb7 aarch64, 0x3e x86-64); the rest is padding. */
function elfHeader(machine: number): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header); // ELF, 64-bit, little-endian, version 1
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(machine, 18);
  header.writeUInt32LE(1, 20);
  return header;
}
const EM_AARCH64 = 0xb7;
const EM_X86_64 = 0x3e;
const WHISPER_TARGETS = ['whisper-server', 'whisper-cli', 'whisper-quantize'];

/** What scripts/build-whisper.sh --board B --cross aarch64 leaves in .cache/whisper/<key>. */
async function fakeWhisperBuild(options: { board: 'pi4' | 'pi5'; machine?: number; key?: string }): Promise<string> {
  const key = options.key ?? 'cade41ab70b5bfa9';
  const dir = join(baseDir, `whisper-${rootCount++}`, key);
  await mkdir(join(dir, 'bin'), { recursive: true });
  const mcpu = options.board === 'pi4' ? 'cortex-a72' : 'cortex-a76';
  await writeFile(join(dir, 'build-info'), `format=1\nboard=${options.board}\nmcpu=${mcpu}\narch=aarch64\nsource_sha256=92041caf\ntargets=${WHISPER_TARGETS.join(' ')}\nkey=${key}\ncompiler=aarch64-linux-gnu-g++ (Debian) 12\n`);
  for (const target of WHISPER_TARGETS) await writeFile(join(dir, 'bin', target), elfHeader(options.machine ?? EM_AARCH64), { mode: 0o755 });
  return dir;
}

/** What scripts/pi/arm64-node-modules.sh leaves: node_modules and the lock it was made from. */
async function fakeNodeModules(options: { lock?: string; addonMachine?: number } = {}): Promise<string> {
  const dir = join(baseDir, `modules-${rootCount++}`);
  await mkdir(join(dir, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
  await writeFile(join(dir, 'package-lock.json'), options.lock ?? (await readFile(join(PROJECT_ROOT, 'package-lock.json'))));
  await writeFile(join(dir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), elfHeader(options.addonMachine ?? EM_AARCH64));
  return dir;
}

/** What scripts/pi/build-dist.sh leaves: dist's tree and the hash of the sources it was compiled from. */
async function fakeDist(stamp: string): Promise<string> {
  const dir = join(baseDir, `dist-${rootCount++}`);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'src/main.js'), '// compiled\n');
  await writeFile(join(dir, '.scout-source.sha256'), `${stamp}\n`);
  return dir;
}

function sourceHash(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(PROJECT_ROOT, 'scripts/source-hash.sh'), PROJECT_ROOT], (error, stdout) => {
      if (error) reject(new Error(`source-hash.sh failed: ${error.message}`));
      else resolve(stdout.trim());
    });
  });
}

describe('install-pi.sh --dry-run with parts built on another machine', () => {
  it('plans importing a Pi 4 whisper build, copying arm64 node_modules and using a matching dist, compiling nothing', async () => {
    const root = await fakePiRoot();
    const whisper = await fakeWhisperBuild({ board: 'pi4' });
    const modules = await fakeNodeModules();
    const dist = await fakeDist(await sourceHash());
    const before = await snapshot([root, whisper, modules, dist, ...SYSTEM_PATHS]);
    // The bin dir (what build-whisper.sh prints) is taken as well as the <key> dir above it.
    const result = await runScript(INSTALL, ['--dry-run', '--root', root, '--whisper-build', join(whisper, 'bin'), '--node-modules', modules, '--dist', dist]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    const planned = steps(out);
    expect(planned.slice(0, 5)).toEqual(['architecture', 'operating system', 'dry run: nothing will be changed', 'board', 'parts built on another machine']);
    expect(planned).toContain(`the app's compiled JS: from ${dist} (--dist)`);
    expect(planned).not.toContain('building the app (staging copy in /var/cache/scout/build)');
    expect(out).toContain(`whisper.cpp: build cade41ab70b5bfa9 from ${whisper} (pi4, -mcpu=cortex-a72, aarch64 ELF: whisper-server whisper-cli whisper-quantize)`);
    expect(out).toContain(`node_modules: from ${modules} (made from this package-lock.json)`);
    expect(out).toMatch(new RegExp(`compiled JS: from ${dist} \\(sources [0-9a-f]{64}, this checkout's\\)`));
    // Nothing compiled on the box: no build-whisper.sh, no npm install, no tsc.
    expect(out).not.toContain('build-whisper.sh');
    expect(out).not.toMatch(/would: \(cd \S+ && npm (install|run)/);
    // Into the cache where build-whisper.sh would have put it, and the `current` link the service runs.
    expect(out).toContain('importing build cade41ab70b5bfa9');
    for (const target of WHISPER_TARGETS) expect(out).toContain(`would: install -D -m 0755 ${whisper}/bin/${target} /opt/scout/.cache/whisper/cade41ab70b5bfa9/bin/${target}`);
    expect(out).toContain('would: ln -sfn cade41ab70b5bfa9 /opt/scout/.cache/whisper/current');
    expect(out).toMatch(new RegExp(`would: rsync -a --delete ${modules}/node_modules/ /opt/scout/node_modules/`));
    expect(out).toMatch(new RegExp(`would: rsync -a --delete ${dist}/ /opt/scout/dist/`));
    expect(await snapshot([root, whisper, modules, dist, ...SYSTEM_PATHS])).toEqual(before);
  });

  it('refuses a whisper build made for another board, and one whose binaries are not aarch64', async () => {
    const root = await fakePiRoot();
    const pi5 = await runScript(INSTALL, ['--dry-run', '--root', root, '--board', 'pi4', '--whisper-build', await fakeWhisperBuild({ board: 'pi5' })]);
    expect(pi5.code).toBe(1);
    expect(pi5.stderr).toContain("was built for board 'pi5' (-mcpu=cortex-a76), but this box is a pi4 (-mcpu=cortex-a72)");
    expect(pi5.stderr).toContain('SIGILL');
    // Refused before any step that changes the box is planned.
    expect(steps(pi5.stdout)).not.toContain('microphone');
    const x86 = await runScript(INSTALL, ['--dry-run', '--root', root, '--whisper-build', await fakeWhisperBuild({ board: 'pi4', machine: EM_X86_64 })]);
    expect(x86.code).toBe(1);
    expect(x86.stderr).toMatch(/bin\/whisper-server is not an aarch64 binary \(.*x86-64/);
    const bare = join(baseDir, 'no-build-info');
    await mkdir(bare, { recursive: true });
    const none = await runScript(INSTALL, ['--dry-run', '--root', root, '--whisper-build', bare]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no build-info there (make the build with scripts/build-whisper.sh --board pi4 --cross aarch64)');
  });

  it('refuses node_modules from another lock or with an x86 addon, and compiles here when --dist is from other sources', async () => {
    const root = await fakePiRoot();
    const lock = await runScript(INSTALL, ['--dry-run', '--root', root, '--node-modules', await fakeNodeModules({ lock: '{"lockfileVersion":3}\n' })]);
    expect(lock.code).toBe(1);
    expect(lock.stderr).toContain("was made from another package-lock.json than");
    const x86 = await runScript(INSTALL, ['--dry-run', '--root', root, '--node-modules', await fakeNodeModules({ addonMachine: EM_X86_64 })]);
    expect(x86.code).toBe(1);
    expect(x86.stderr).toMatch(/better_sqlite3\.node is not an aarch64 binary/);
    const missing = await runScript(INSTALL, ['--dry-run', '--root', root, '--dist', join(baseDir, 'absent-dist')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is not a directory');
    const dist = await fakeDist('0'.repeat(64));
    const stale = await runScript(INSTALL, ['--dry-run', '--root', root, '--dist', dist]);
    expect(stale.code).toBe(0);
    expect(stale.stdout).toContain(`compiled JS: ${dist} was compiled from other sources (${'0'.repeat(64)}; this checkout: `);
    expect(steps(stale.stdout)).toContain('building the app (staging copy in /var/cache/scout/build)');
    expect(stale.stdout).toMatch(/would: \(cd \/var\/cache\/scout\/build && npm run --silent build\)/);
  });
});

describe('uninstall-pi.sh --dry-run', () => {
  it('plans removing the app and the config.txt block but keeps the recordings unless --purge', async () => {
    const first = await runScript(INSTALL, ['--dry-run', '--root', await fakePiRoot()]);
    const root = await fakePiRoot({ configTxt: `${PI_OS_CONFIG_TXT}${plannedBlock(first.stdout)}` });
    const before = await snapshot([root, ...SYSTEM_PATHS]);
    const keep = await runScript(UNINSTALL, ['--dry-run', '--root', root]);
    expect(keep.stderr).toBe('');
    expect(keep.code).toBe(0);
    const config = `${root}/boot/firmware/config.txt`;
    expect(keep.stdout).toMatch(new RegExp(`would: cp -p ${config} ${config}\\.scout-\\d{8}-\\d{6}\\.bak\\n`));
    expect(keep.stdout).toContain(`in ${config}`);
    expect(keep.stdout).toContain('keeping /var/lib/scout (recordings, database, token, models)');
    expect(keep.stdout).not.toMatch(/rm -rf \/var\/lib\/scout/);
    const purge = await runScript(UNINSTALL, ['--dry-run', '--root', root, '--purge']);
    expect(purge.code).toBe(0);
    expect(purge.stdout).toContain('purging the data (--purge)');
    // On this machine /var/lib/scout may or may not exist: either it is planned for deletion or known absent.
    expect(purge.stdout).toMatch(/would: rm -rf \/var\/lib\/scout|already gone: \/var\/lib\/scout/);
    expect(await snapshot([root, ...SYSTEM_PATHS])).toEqual(before);
  });
});
