import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface State {
  appliance: { phase: string; recordingId: string | null };
}
interface RecordingView {
  id: string;
  status: string;
  startedAtMs: number;
  durationMs: number;
  transcript?: { text?: string; tier?: string | null };
}

/** The front matter as key -> raw value, and the text after it; null for anything not a whole note. */
function parseNote(text: string): { meta: Record<string, string>; body: string } | null {
  const match = /^---\n([\s\S]*?)\n---\n\n([\s\S]*)\n$/.exec(text);
  if (!match) return null;
  const meta: Record<string, string> = {};
  for (const line of (match[1] ?? '').split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) meta[line.slice(0, at)] = line.slice(at + 2);
  }
  return { meta, body: match[2] ?? '' };
}

/** The notes folder from the real service: one note per transcript, replaced whole on a redo. */
describe('markdown notes folder', () => {
  let scout: ScoutProcess;
  let notes: string;

  beforeAll(async () => {
    const dataDir = await makeDataDir();
    notes = join(dataDir, 'vault', 'Scout');
    scout = await startScout({ dataDir, config: { integrations: { markdown: { dir: 'vault/Scout' }, retryInitialMs: 200, retryMaxMs: 1000 } } });
  }, 60_000);

  afterAll(async () => {
    await scout?.stop();
    if (scout) await removeDataDir(scout.dataDir);
  });

  it('a note per transcript with id, time, duration and tier, updated atomically when the transcript is redone', async () => {
    expect(await scout.button('toggle')).toBe(202);
    const id = await waitFor(async () => (await scout.api<State>('/api/state')).body.appliance.recordingId, 10_000);
    await sleep(2500);
    expect(await scout.button('toggle')).toBe(202);
    const path = join(notes, `${id}.md`);
    const first = await waitFor(async () => {
      try {
        return parseNote(await readFile(path, 'utf8'));
      } catch {
        return null;
      }
    }, 60_000, 100);
    const recording = (await scout.api<RecordingView>(`/api/recordings/${id}`)).body;
    expect(recording.status).toBe('transcribed');
    expect(JSON.parse(first.meta.id ?? 'null')).toBe(id);
    expect(JSON.parse(first.meta.time ?? 'null')).toBe(new Date(recording.startedAtMs).toISOString());
    // Seconds to one decimal, as the note writes it (3050 ms is 3.1, not 3.0).
    expect(Number(first.meta.duration)).toBe(Math.round(recording.durationMs / 100) / 10);
    // The tier the transcript was made at (constrained if the machine was busy enough to degrade).
    expect(JSON.parse(first.meta.tier ?? 'undefined')).toBe(recording.transcript?.tier);
    expect(['normal', 'constrained']).toContain(recording.transcript?.tier);
    expect(first.body).toBe((recording.transcript?.text ?? '').trim());
    const inodeBefore = (await stat(path)).ino;

    // Read the note over and over while it is redone: every read is a whole note, old or new.
    let reading = true;
    let reads = 0;
    const partial: string[] = [];
    const reader = (async () => {
      while (reading) {
        try {
          const text = await readFile(path, 'utf8');
          reads += 1;
          if (parseNote(text) === null) partial.push(text);
        } catch (error) {
          // A rename never leaves the name missing; a missing file would be a failure too.
          partial.push(String(error));
        }
      }
    })();
    const redo = await scout.api(`/api/recordings/${id}/transcribe`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(redo.status).toBeLessThan(300);
    const second = await waitFor(async () => {
      const note = parseNote(await readFile(path, 'utf8'));
      return note && note.meta.transcribed !== first.meta.transcribed ? note : null;
    }, 60_000, 100);
    reading = false;
    await reader;
    expect(partial).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(JSON.parse(second.meta.id ?? 'null')).toBe(id);
    expect(second.meta.delivery).not.toBe(first.meta.delivery);
    const redone = (await scout.api<RecordingView>(`/api/recordings/${id}`)).body;
    expect(second.body).toBe((redone.transcript?.text ?? '').trim());
    // Replaced by a rename (a new file under the name), not rewritten in place; no temporary file left.
    expect((await stat(path)).ino).not.toBe(inodeBefore);
    expect(await readdir(notes)).toEqual([`${id}.md`]);
  }, 120_000);
});
