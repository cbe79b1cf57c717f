import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arm64Unavailable, binaryUses, ensureArm64Root, ensurePiWhisper, openRootSession, QEMU_CPU, type RootSession } from '../helpers/arm64-root.js';
import { missingCapability } from '../helpers/capability.js';
import { ensureModel, speechWav, type EnsuredModel } from '../helpers/whisper.js';

/**
 * whisper.cpp built per board, run on that board's core. qemu-user reports the host's
 * /proc/cpuinfo, so "native" detection would describe the x86 build machine: the builds name
 * their CPU (-mcpu=cortex-a72 / -mcpu=cortex-a76, GGML_NATIVE=OFF), and QEMU_CPU makes qemu
 * refuse every instruction the named core lacks with SIGILL, as the silicon would.
 */
const skip = missingCapability('an arm64 rootfs under qemu-user', await arm64Unavailable());

// Dot product (FEAT_DotProd) and half-precision vector arithmetic (FEAT_FP16): Cortex-A76 has
// both, Cortex-A72 neither. `fmla v0.8h` is an fp16 multiply-add on eight lanes.
const DOTPROD = /\t[su]dot\t/;
const FP16_ARITH = /\t(fmla|fmul|fadd|fsub)\tv\d+\.(8h|4h)/;

describe.skipIf(skip)('whisper.cpp per board under qemu-user', () => {
  let session: RootSession;
  let model: EnsuredModel;
  let wav: string;
  let work: string;
  const bins: Partial<Record<'pi4' | 'pi5', string>> = {};

  beforeAll(async () => {
    const root = await ensureArm64Root();
    bins.pi4 = await ensurePiWhisper('pi4');
    bins.pi5 = await ensurePiWhisper('pi5');
    model = await ensureModel('mini', { decodeTokens: 6 });
    work = await mkdtemp(join(tmpdir(), 'scout-pi-whisper-'));
    wav = await speechWav('Testing the scout recorder on a Raspberry Pi, one two three.', join(work, 'speech.wav'));
    session = await openRootSession(root, [
      { host: bins.pi4, readOnly: true },
      { host: bins.pi5, readOnly: true },
      { host: dirname(model.path), readOnly: true },
      { host: work, readOnly: true },
    ]);
  });

  afterAll(async () => {
    await session?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const transcribe = (board: 'pi4' | 'pi5', cpu: string) =>
    session.run({
      argv: [join(bins[board] ?? '', 'whisper-cli'), '-m', model.path, '-f', wav, '-t', '2', '-bs', '1', '-bo', '1', '-np'],
      cpu,
      timeoutMs: 4 * 60_000,
    });

  it('the Pi 5 build uses dot-product and fp16 instructions, the Pi 4 build neither', async () => {
    const pi4 = join(bins.pi4 ?? '', 'whisper-cli');
    const pi5 = join(bins.pi5 ?? '', 'whisper-cli');
    expect(await binaryUses(pi5, DOTPROD)).toBe(true);
    expect(await binaryUses(pi5, FP16_ARITH)).toBe(true);
    expect(await binaryUses(pi4, DOTPROD)).toBe(false);
    expect(await binaryUses(pi4, FP16_ARITH)).toBe(false);
  });

  it('the Pi 4 build transcribes on a Cortex-A72 (no SIGILL)', async () => {
    const result = await transcribe('pi4', QEMU_CPU.pi4);
    expect(result.signal, result.stderr.slice(-2000)).toBeNull();
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stdout).toContain(model.expectedText.trim());
  });

  it('the Pi 5 build dies with SIGILL on a Cortex-A72: builds are per board', async () => {
    const result = await transcribe('pi5', QEMU_CPU.pi4);
    expect(result.signal, `code ${result.code}; ${result.stderr.slice(-2000)}`).toBe('SIGILL');
    expect(result.stdout).not.toContain(model.expectedText.trim());
  });

  it('the Pi 5 build transcribes on a Cortex-A76', async () => {
    const result = await transcribe('pi5', QEMU_CPU.pi5);
    expect(result.signal, result.stderr.slice(-2000)).toBeNull();
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stdout).toContain(model.expectedText.trim());
  });
});
