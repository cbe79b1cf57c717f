import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arm64Unavailable, binaryUses, ensureArm64NodeModules, ensureArm64Root, ensurePiWhisper, openRootSession, QEMU_CPU, runHost, type Bind, type RootSession, type RunResult } from '../helpers/arm64-root.js';
import { missingCapability } from '../helpers/capability.js';
import { PROJECT_ROOT } from '../helpers/scout-process.js';
import { ensureModel, type EnsuredModel } from '../helpers/whisper.js';

/**
 * provisioning/install-pi.sh for real on the Pi's userland (trixie arm64 under qemu, a
 * Cortex-A72): the box is the rootfs (under an overlay, so the cache stays clean), and the steps
 * that need the network or a Pi read local files instead: the model (--model-file), and a test
 * root holding /proc/asound/cards and /boot/firmware/config.txt (--root). Then it runs again and
 * must change nothing: the overlay's upper dir lists every file the runs touched, and its listing
 * (with sizes, modes, times and contents) must be the same before and after the second run.
 *
 * By default (`npm run test:pi`) the parts that take long to compile come built on the host, as
 * for a fleet provisioned from a faster machine: --whisper-build (the Pi 4 cross build that
 * whisper-boards.test.ts proves on a Cortex-A72), --node-modules (arm64-node-modules.sh, the
 * addons cross-compiled against the rootfs's Node) and --dist (build-dist.sh). install-pi.sh
 * still checks each (board, ELF machine, lock, source hash), copies them in, and verifies the
 * modules on the box's Node. With SCOUT_PI_INSTALL_TEST=1 (`npm run test:pi:install`, slow,
 * run by hand) the box compiles everything itself under emulation, as a Pi without the flags does.
 */
const skip = missingCapability('an arm64 rootfs under qemu-user', await arm64Unavailable());
const ON_BOX = process.env['SCOUT_PI_INSTALL_TEST'] === '1';

const SOURCE_INSIDE = '/src/scout';
const FACTS_INSIDE = '/facts';
const CARDS = ' 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n                      vc4-hdmi-0\n 2 [Device         ]: USB-Audio - USB PnP Sound Device\n                      C-Media Electronics Inc. USB PnP Sound Device at usb-xhci-hcd.0-1, full speed\n';
const CONFIG_TXT = '# Raspberry Pi OS config.txt (abridged)\ndtparam=audio=on\ncamera_auto_detect=1\narm_64bit=1\n\n[cm4]\notg_mode=1\n\n[all]\n';

/** Every entry under `dir`: type, mode, owner, size, mtime and (for files) a content hash. */
async function listing(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const st = await lstat(path);
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
    let line = `${kind} ${prefix}/${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`;
    if (kind === 'f') line += ` ${createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16)}`;
    out.push(line);
    if (kind === 'd') out.push(...(await listing(path, `${prefix}/${name}`)));
  }
  return out;
}

/** Ends with a message when a host step fails. */
function ok(result: RunResult, what: string): RunResult {
  if (result.code !== 0) throw new Error(`${what} failed (${result.code ?? result.signal}): ${result.stderr.slice(-3000)}`);
  return result;
}

describe.skipIf(skip)(`install-pi.sh on trixie arm64 (Cortex-A72), twice${ON_BOX ? ', compiling everything on the box' : ', with parts built on the host'}`, () => {
  let session: RootSession;
  let model: EnsuredModel;
  let work: string;
  let facts: string;
  let whisperBin = '';
  let first: RunResult;
  let second: RunResult;
  let before: string[];
  let after: string[];
  const prebuilt: string[] = [];

  const install = () =>
    session.run({
      argv: ['bash', `${SOURCE_INSIDE}/provisioning/install-pi.sh`,
        '--root', FACTS_INSIDE, '--board', 'pi4',
        '--model-file', model.path, '--allow-unpinned-model',
        '--skip-apt', '--no-systemd', '--source', SOURCE_INSIDE, ...prebuilt],
      cpu: QEMU_CPU.pi4,
      // On the box: npm installs, tsc, better-sqlite3 and whisper.cpp compiled under emulation.
      // Prebuilt: copies, then npm ls and Node under emulation (measured in docs/PI.md).
      timeoutMs: ON_BOX ? 120 * 60_000 : 10 * 60_000,
    });

  beforeAll(async () => {
    const root = await ensureArm64Root();
    model = await ensureModel('mini', { decodeTokens: 6 });
    work = await mkdtemp(join(tmpdir(), 'scout-pi-install-'));
    // The checkout as it is now, frozen: the box installs from it twice and --dist's hash is of it,
    // so an edit in the working tree meanwhile changes neither run.
    const source = join(work, 'source');
    ok(await runHost('rsync', ['-a', '--exclude', '/.git', '--exclude', '/node_modules', '--exclude', '/.cache', '--exclude', '/data',
      '--exclude', '/dist', '--exclude', '/coverage', `${PROJECT_ROOT}/`, `${source}/`], { timeoutMs: 5 * 60_000 }), 'copying the checkout');
    facts = join(work, 'facts');
    await mkdir(join(facts, 'proc/asound'), { recursive: true });
    await mkdir(join(facts, 'boot/firmware'), { recursive: true });
    await writeFile(join(facts, 'proc/asound/cards'), CARDS);
    await writeFile(join(facts, 'boot/firmware/config.txt'), CONFIG_TXT);
    const binds: Bind[] = [
      { host: source, inside: SOURCE_INSIDE, readOnly: true },
      { host: facts, inside: FACTS_INSIDE },
      { host: dirname(model.path), readOnly: true },
    ];
    if (!ON_BOX) {
      whisperBin = await ensurePiWhisper('pi4');
      const modules = await ensureArm64NodeModules(root);
      const dist = join(work, 'dist');
      ok(await runHost('bash', [join(PROJECT_ROOT, 'scripts/pi/build-dist.sh'), '--source', source, dist], { timeoutMs: 10 * 60_000 }), 'build-dist.sh');
      // The build's <key> dir (bin/ and build-info); the flag gets the bin dir that build-whisper.sh prints.
      binds.push({ host: dirname(whisperBin), readOnly: true }, { host: modules, readOnly: true }, { host: dist, readOnly: true });
      prebuilt.push('--whisper-build', whisperBin, '--node-modules', modules, '--dist', dist);
    }
    session = await openRootSession(root, binds);
    first = await install();
    before = [...(await listing(session.upper)), ...(await listing(facts, FACTS_INSIDE))];
    second = await install();
    after = [...(await listing(session.upper)), ...(await listing(facts, FACTS_INSIDE))];
    console.info(`install-pi.sh under qemu (${ON_BOX ? 'compiling on the box' : 'prebuilt parts'}): first run ${first.ms} ms, second run ${second.ms} ms`);
  }, (ON_BOX ? 240 : 90) * 60_000);

  afterAll(async () => {
    await session?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the first run installs the appliance', async () => {
    expect(first.code, `${first.stdout.slice(-3000)}\n${first.stderr.slice(-3000)}`).toBe(0);
    const upper = session.upper;
    const config = JSON.parse(await readFile(join(upper, 'etc/scout/scout.json'), 'utf8')) as { audio: { device: string } };
    expect(config.audio.device).toBe('plughw:CARD=Device,DEV=0');
    expect(await readFile(join(upper, 'var/lib/scout/models/ggml-tiny.en-q8_0.bin'))).toEqual(await readFile(model.path));
    expect((await lstat(join(upper, 'opt/scout/dist/src/main.js'))).isFile()).toBe(true);
    expect((await lstat(join(upper, 'etc/systemd/system/scout.service'))).isFile()).toBe(true);
    expect(await readFile(join(facts, 'boot/firmware/config.txt'), 'utf8')).toMatch(/# >>> scout[\s\S]*dtoverlay=[\s\S]*# <<< scout/);
  });

  it(ON_BOX ? 'builds whisper.cpp for the Pi 4 on the box: no dot-product instructions' : 'imports the Pi 4 whisper build where the service runs it: no dot-product instructions', async () => {
    const bins = join(session.upper, 'opt/scout/.cache/whisper');
    const keys = (await readdir(bins)).filter((name) => /^[0-9a-f]{16}$/.test(name));
    expect(keys).toHaveLength(1);
    const key = keys[0] ?? '';
    // The service runs .cache/whisper/current/bin/whisper-server (src/app/compose.ts).
    expect(await readlink(join(bins, 'current'))).toBe(key);
    const server = join(bins, key, 'bin/whisper-server');
    expect((await lstat(server)).isFile()).toBe(true);
    expect(await binaryUses(server, /\t[su]dot\t/)).toBe(false);
    if (!ON_BOX) {
      expect(await readFile(server)).toEqual(await readFile(join(whisperBin, 'whisper-server')));
      expect(first.stdout).toContain(`importing build ${key}`);
      // Nothing compiled on the box: no whisper.cpp build, no npm install, no tsc.
      expect(first.stdout).not.toContain('build-whisper.sh');
      expect(first.stdout).not.toMatch(/^run: \(cd \S+ && npm (install|run)/m);
      expect(first.stdout).toContain('runtime dependencies: complete per the lock, better-sqlite3 loads');
    }
  });

  it('the second run changes nothing', () => {
    expect(second.code, `${second.stdout.slice(-3000)}\n${second.stderr.slice(-3000)}`).toBe(0);
    expect(before.length).toBeGreaterThan(100);
    expect(after).toEqual(before);
    // Every change goes through `run` (printed "run: ..."): a rerun that changes nothing prints none.
    expect(second.stdout).not.toMatch(/^run:/m);
  });
});
