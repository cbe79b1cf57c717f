/**
 * Another process holds the database's write lock (BEGIN EXCLUSIVE, as a backup or a sqlite3
 * shell would) for 10 s while a take is made. Writes must wait or be retried, nothing be lost,
 * and once the lock goes everything is saved and transcribed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from '../../../src/util/sleep.js';
import { PROJECT_ROOT } from '../../../test/helpers/scout-process.js';
import { awaitRecovery, endTake, missingTakes, startRealService, startTake, transcribed, type RealService } from '../harness.js';
import { finish, repeated, type Scenario } from '../scenario.js';

const HOLD_LOCK_MS = 10_000;

// The other process: opens the same file with better-sqlite3, takes the write lock, holds it.
const LOCKER = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('busy_timeout = 10000');
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('locked\\n');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
db.exec('COMMIT');
db.close();
process.stdout.write('released\\n');
`;

function holdLock(dbPath: string): { locked: Promise<void>; released: Promise<void> } {
  const child = spawn(process.execPath, ['--input-type=commonjs', '-e', LOCKER, dbPath, String(HOLD_LOCK_MS)], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const seen = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        if (line === word) resolve();
      });
      void once(child, 'exit').then(([code]) => reject(new Error(`the locker exited (${String(code)}) before "${word}"`)));
    });
  return { locked: seen('locked'), released: seen('released') };
}

export const dbLocked: Scenario = {
  name: 'db-locked',
  summary: `another process holds BEGIN EXCLUSIVE on the database for ${HOLD_LOCK_MS / 1000} s while a take is made`,
  run: (ctx, repeats, report) => {
    let real: RealService | null = null;
    return repeated<RealService>(
      repeats,
      report,
      async () => (real = await startRealService(ctx, 'db-locked')),
      async (r) => {
        const s = r.service;
        const lock = holdLock(join(r.dataDir, 'scout.db'));
        await lock.locked;
        const notes: string[] = [];
        let id: string | null = null;
        try {
          ({ id } = await startTake(s, 15_000));
          await sleep(2000);
          const { body } = await endTake(s, id);
          notes.push(`take during the lock: ${body.status}${body.error ? ` (${body.error})` : ''}`);
        } catch (error) {
          notes.push(`a take during the lock failed: ${String(error)}`);
        }
        await lock.released;
        const since = performance.now();
        const takeId = id;
        const recovery = await awaitRecovery(s, r.baseline, since, async (remainingMs) => takeId === null || (await transcribed(s, takeId, remainingMs)) !== null);
        if (id !== null) r.known.push(id);
        if (recovery.proofId !== null) r.known.push(recovery.proofId);
        const missing = await missingTakes(s, r.known);
        return finish({ recovery, lostRows: missing.length + (id === null ? 1 : 0), notes }, s);
      },
      async () => {
        await real?.service.stop();
      },
    );
  },
};
