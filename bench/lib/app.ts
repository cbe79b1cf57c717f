/**
 * The appliance as systemd runs it, for the benchmarks: compiled JS started with `node`, not tsx.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, repoDir } from '../../test/helpers/whisper.js';

const run = promisify(execFile);

/**
 * Compiles the service into .cache/bench/<name>/dist (never the shared dist/, which other people's
 * builds own). The compiled config finds the project root two levels above dist/src, so that root
 * gets links to the real src/ (the web page) and .cache/ (the whisper build); node_modules resolve
 * from the checkout above. Returns the path of main.js.
 */
export async function buildApp(name: string, log: (line: string) => void): Promise<string> {
  const appDir = join(cacheDir, 'bench', name);
  await rm(join(appDir, 'dist'), { recursive: true, force: true });
  await mkdir(appDir, { recursive: true });
  try {
    await run(join(repoDir, 'node_modules', '.bin', 'tsc'), ['-p', join(repoDir, 'tsconfig.build.json'), '--outDir', join(appDir, 'dist')], { cwd: repoDir });
  } catch (error) {
    // tsc emits despite type errors (in files still being worked on); only a missing main.js is fatal.
    const stdout = (error as { stdout?: string }).stdout ?? '';
    log(`tsc reported errors (emitted anyway): ${stdout.split('\n').slice(0, 3).join(' | ')}`);
  }
  // Relative links: the same tree works where the project is bound elsewhere (/opt/scout in the
  // soak's systemd namespace).
  for (const entry of ['src', '.cache', 'package.json']) {
    if (!existsSync(join(appDir, entry))) await symlink(relative(appDir, join(repoDir, entry)), join(appDir, entry));
  }
  const main = join(appDir, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`build produced no ${main}`);
  return main;
}

/** Prometheus text exposition -> `name{labels}` (or `name`) -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) out.set(match[1], Number(match[2]));
  }
  return out;
}
