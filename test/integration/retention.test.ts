import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingCapability } from '../helpers/capability.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { mountTmpfs, unmountTmpfs } from '../helpers/storage.js';

/**
 * The retention policy in the real service on a small tmpfs: when free space falls below
 * keepFreeMb, the audio of the oldest transcribed recordings goes (410 Gone), their rows and
 * transcripts stay, each deletion is logged and counted. Needs root (mount -t tmpfs).
 */

const { mountPoint, problem: mountProblem } = mountTmpfs('retention');

const skip = missingCapability('a tmpfs mount (root)', mountProblem);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const config = {
  recorder: { minFreeMb: 1, stopReserveMb: 0, reserveAheadMb: 0, retention: { enabled: true, keepFreeMb: 8 } },
  ops: { storageCheckMs: 200, healthCacheMs: 0 },
  // Health says degraded (transcription waits) below 2 MB, unhealthy (takes refused) below minFreeMb.
  degradation: { diskFreeMinMbDefer: 2 },
  transcription: { threads: 1, adaptive: false, catchUp: false, minSpeechMs: 1000 },
};

interface View {
  id: string;
  status: string;
  audioRemovedAtMs?: number;
  transcript?: { state: string; text?: string };
}

describe.skipIf(skip)('retention on a filling disk (tmpfs)', () => {
  const dataDir = join(mountPoint, 'data');
  let scout: ScoutProcess | null = null;

  afterAll(async () => {
    await scout?.stop();
    unmountTmpfs(mountPoint);
  });

  async function take(s: ScoutProcess): Promise<string> {
    expect(await s.button('toggle')).toBe(202);
    const id = await waitFor(async () => {
      const body = (await s.api<{ appliance: { phase: string; recordingId: string | null } }>('/api/state')).body;
      return body.appliance.phase === 'recording' ? body.appliance.recordingId : null;
    }, 5000);
    await sleep(1500);
    expect(await s.button('toggle')).toBe(202);
    await waitFor(async () => (await s.api<View>(`/api/recordings/${id}`)).body.transcript?.state === 'done', 60_000, 250);
    return id;
  }

  it('deletes the oldest audio below keepFreeMb, keeps rows and transcripts, logs and counts each', async () => {
    mkdirSync(dataDir, { recursive: true });
    scout = await startScout({ dataDir, config });
    const s = scout;
    expect(s.logLines.some((line) => line.msg === 'retention on: old audio is deleted when space is low' && line.keepFreeMb === 8)).toBe(true);
    const first = await take(s);
    const second = await take(s);
    // Plenty of room: nothing goes.
    await sleep(500);
    expect((await s.api<View>(`/api/recordings/${first}`)).body.audioRemovedAtMs).toBeUndefined();

    // Leave 3 MB: below keepFreeMb (8), above minFreeMb (1), and room for the rows' updates.
    const { bavail, bsize } = statfsSync(mountPoint);
    const fillMb = Math.floor((bavail * bsize) / 1_048_576) - 3;
    spawnSync('dd', ['if=/dev/zero', `of=${join(mountPoint, 'filler')}`, 'bs=1M', `count=${fillMb}`], { stdio: 'ignore' });

    const removed = await waitFor(async () => {
      const views = await Promise.all([first, second].map(async (id) => (await s.api<View>(`/api/recordings/${id}`)).body));
      return views.every((view) => view.audioRemovedAtMs !== undefined) ? views : null;
    }, 5000);
    for (const view of removed) {
      expect(view.status).toBe('transcribed');
      expect(view.transcript?.state).toBe('done');
      expect(existsSync(join(dataDir, 'recordings', `${view.id}.wav`))).toBe(false);
      expect((await s.api(`/api/recordings/${view.id}/audio`)).status).toBe(410);
      expect((await s.api<string>(`/api/recordings/${view.id}/transcript?format=txt`)).status).toBe(200);
    }
    const deletions = s.logLines.filter((line) => line.msg === 'retention: deleted the audio of an old recording (transcript kept)');
    expect(deletions.map((line) => line.recordingId)).toEqual([first, second]);
    expect(deletions.every((line) => line.level === 'info' || line.level === 30)).toBe(true);
    expect((await s.api<string>('/metrics')).body).toMatch(/^scout_retention_audio_removed_total 2$/m);
    await waitFor(() => Promise.resolve(s.logLines.some((line) => line.msg === 'retention: no transcribed audio left to delete')), 5000);
    expect(s.child.exitCode).toBeNull();
    expect(s.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect((await s.stop()).code).toBe(0);
    scout = null;
  }, 120_000);
});
