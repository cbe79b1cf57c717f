import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const projectDir = resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scout-guards-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Runs a small program in a real Node child with the guards installed the way main.ts will:
 * the real root logger to stdout, process.exit, a graceful stop that writes a marker file.
 */
async function runFixture(body: string, graceful: string): Promise<{ code: number | null; lines: Record<string, unknown>[]; marker: string | null; ms: number }> {
  const file = join(dir, `fixture-${Math.random().toString(36).slice(2)}.ts`);
  const marker = `${file}.stopped`;
  await writeFile(
    file,
    `import { writeFileSync } from 'node:fs';
import { createRootLogger } from ${JSON.stringify(join(projectDir, 'src/log.ts'))};
import { installProcessGuards } from ${JSON.stringify(join(projectDir, 'src/ops/process-guards.ts'))};
const logger = createRootLogger('info');
let count = 0;
installProcessGuards({
  logger,
  deadlineMs: 500,
  counter: { inc: () => { count += 1; } },
  onFatal: async () => { ${graceful}; writeFileSync(${JSON.stringify(marker)}, 'stopped after ' + count + ' fatal'); },
  exit: (code) => process.exit(code),
});
setInterval(() => {}, 1000); // a live service: without the guards' exit it would never end
${body}
`,
  );
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: projectDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  const lines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, lines, marker: await readFile(marker, 'utf8').catch(() => null), ms: performance.now() - started };
}

describe('process guards in a real child process', () => {
  it('an uncaught exception is logged with its stack, counted, the graceful stop runs, and the exit code is non-zero', async () => {
    const result = await runFixture(`setTimeout(() => { throw new Error('wedged DSP state'); }, 50);`, '');
    expect(result.code).toBe(70);
    const fatal = result.lines.find((l) => l.msg === 'uncaughtException: shutting down so systemd restarts us');
    expect(fatal).toBeDefined();
    expect(fatal?.level).toBe('fatal');
    const err = fatal?.err as { message: string; stack: string };
    expect(err.message).toBe('wedged DSP state');
    expect(err.stack).toContain('fixture-');
    expect(result.marker).toBe('stopped after 1 fatal');
    // Found by message, not position: pino's async stdout writer can reorder the last two lines
    // when process.exit() flushes it synchronously while a write is in flight.
    expect(result.lines.find((l) => l.msg === 'exiting after fatal error')).toMatchObject({ how: 'graceful stop done', exitCode: 70 });
  }, 20_000);

  it('an unhandled rejection ends the process the same way', async () => {
    const result = await runFixture(`setTimeout(() => { void Promise.reject(new Error('engine socket closed')); }, 50);`, '');
    expect(result.code).toBe(70);
    const fatal = result.lines.find((l) => l.kind === 'unhandledRejection' && l.level === 'fatal');
    expect((fatal?.err as { message: string }).message).toBe('engine socket closed');
    expect(result.marker).toBe('stopped after 1 fatal');
  }, 20_000);

  it('a graceful stop that hangs is cut off at the deadline: never a half-dead process', async () => {
    const result = await runFixture(`setTimeout(() => { throw new Error('boom'); }, 50);`, 'await new Promise(() => {})');
    expect(result.code).toBe(70);
    expect(result.marker).toBeNull();
    expect(result.lines.find((l) => l.msg === 'exiting after fatal error')).toMatchObject({ how: 'graceful stop exceeded 500 ms' });
  }, 20_000);
});
