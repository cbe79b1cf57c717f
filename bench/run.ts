/**
 * Runs every bench/*.bench.ts, one after another, each in its own child process with the same Node
 * flags (`--expose-gc --import tsx`), so one benchmark's heap and JIT state cannot colour another's.
 *
 *   npm run bench            all benchmarks
 *   npm run bench -- dsp     only those whose file name contains "dsp"
 *
 * Each child is pinned to one CPU with `taskset` when it exists, so "x real time on one core" means
 * one core (the GC's helper threads included). SCOUT_BENCH_CPU=<n> picks the CPU; SCOUT_BENCH_CPU=none
 * turns pinning off.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));

const files = readdirSync(benchDir)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

function pinning(): string[] {
  const wanted = process.env.SCOUT_BENCH_CPU;
  if (wanted === 'none') return [];
  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
  if (taskset === undefined) return [];
  // The last CPU by default: CPU 0 tends to take more interrupts.
  const cpu = wanted !== undefined && wanted !== '' ? wanted : String(availableParallelism() - 1);
  return [taskset, '-c', cpu];
}

function runOne(file: string): Promise<number> {
  const pin = pinning();
  const command = [...pin, process.execPath, ...process.execArgv, join(benchDir, file)];
  const [exe, ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(exe ?? process.execPath, args, { stdio: 'inherit' });
    child.on('error', (err) => {
      console.error(`bench ${file}: could not start: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal !== null ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  if (files.length === 0) {
    console.error(`no bench/*.bench.ts matches ${filters.join(', ')}`);
    return 1;
  }
  let failed = 0;
  for (const file of files) {
    console.log(`\n## ${basename(file, '.bench.ts')}\n`);
    const code = await runOne(file);
    if (code !== 0) {
      console.error(`bench ${file} exited with ${code}`);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
