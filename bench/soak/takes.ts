/**
 * Each pressed take checked at the end: a row, audio on disk (a real WAV over the API), a final
 * status (transcribed, or failed with its reason), and as long as it was held.
 */
import type { Service } from './service.js';

export interface CycleRecord {
  readonly index: number;
  readonly kind: string;
  readonly speech: boolean;
  /** The recording the press started; null when the press started none (a lost take). */
  readonly id: string | null;
  readonly pressAtMs: number;
  readonly releaseAtMs: number | null;
  readonly heldMs: number | null;
  /** Something that went wrong during the cycle itself (no take started, release not taken). */
  readonly problem: string | null;
}

export type TakeVerdict = 'ok' | 'failed-with-reason' | 'lost' | 'unfinished' | 'truncated';

export interface TakeCheck {
  readonly index: number;
  readonly id: string | null;
  readonly kind: string;
  readonly verdict: TakeVerdict;
  readonly status: string | null;
  readonly detail: string;
  readonly durationMs: number | null;
  readonly transcriptChars: number | null;
}

interface RecordingView {
  readonly id: string;
  readonly status: string;
  readonly error: string | null;
  readonly bytes: number | null;
  readonly durationMs: number | null;
  readonly transcript?: { readonly text?: string | null } | null;
}

const FINAL = new Set(['transcribed', 'failed']);
/** A take may be this much shorter than the button was held (HTTP and scheduling jitter); the pre-roll adds 500 ms the other way. */
const SHORT_TOLERANCE_MS = 1000;

export async function checkTake(service: Service, cycle: CycleRecord): Promise<TakeCheck> {
  const base = { index: cycle.index, id: cycle.id, kind: cycle.kind };
  if (cycle.id === null) return { ...base, verdict: 'lost', status: null, detail: cycle.problem ?? 'the press started no take', durationMs: null, transcriptChars: null };
  const row = await service.api<RecordingView>(`/api/recordings/${cycle.id}`);
  if (row.status === 404) return { ...base, verdict: 'lost', status: null, detail: 'no row', durationMs: null, transcriptChars: null };
  if (row.status !== 200) return { ...base, verdict: 'lost', status: null, detail: `GET row: HTTP ${row.status}`, durationMs: null, transcriptChars: null };
  const recording = row.body;
  const facts = { status: recording.status, durationMs: recording.durationMs, transcriptChars: recording.transcript?.text?.length ?? null };
  if (!recording.bytes) return { ...base, ...facts, verdict: 'lost', detail: 'no audio bytes on the row' };
  const audio = await fetch(`${service.base}/api/recordings/${cycle.id}/audio`, {
    headers: { authorization: `Bearer ${service.token}`, range: 'bytes=0-11' },
    signal: AbortSignal.timeout(30_000),
  });
  const head = Buffer.from(await audio.arrayBuffer());
  if (audio.status !== 206 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    return { ...base, ...facts, verdict: 'lost', detail: `audio: HTTP ${audio.status}, not a WAV` };
  }
  if (!FINAL.has(recording.status)) return { ...base, ...facts, verdict: 'unfinished', detail: `still ${recording.status}` };
  if (cycle.heldMs !== null && recording.durationMs !== null && recording.durationMs < cycle.heldMs - SHORT_TOLERANCE_MS) {
    return { ...base, ...facts, verdict: 'truncated', detail: `${recording.durationMs} ms of audio for ${cycle.heldMs} ms held` };
  }
  if (recording.status === 'failed') {
    return recording.error ? { ...base, ...facts, verdict: 'failed-with-reason', detail: recording.error } : { ...base, ...facts, verdict: 'lost', detail: 'failed without a reason' };
  }
  return { ...base, ...facts, verdict: 'ok', detail: '' };
}

/** Waits until every take is final (or `timeoutMs`, or the service is gone); returns those still open. */
export async function drain(service: Service, ids: readonly string[], timeoutMs: number, onWait: (open: number) => void): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let open = [...ids];
  while (open.length > 0 && Date.now() < deadline && service.exitInfo() === null) {
    const still: string[] = [];
    for (const id of open) {
      try {
        const row = await service.api<RecordingView>(`/api/recordings/${id}`);
        if (row.status === 200 && !FINAL.has(row.body.status)) still.push(id);
      } catch {
        still.push(id);
      }
    }
    open = still;
    onWait(open.length);
    if (open.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return open;
}
