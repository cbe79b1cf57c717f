/**
 * The export archive (`GET /api/export`): for each recording its WAV and its transcript as txt,
 * srt, vtt and json, then a manifest.json, as one ustar stream.
 *
 * Planned before the first byte, so the answer carries a Content-Length: the CLI and a browser
 * show a real progress bar, and a download cut short is seen as short instead of looking like a
 * smaller archive. Planning stats each WAV and renders each transcript (both small next to the
 * audio); streaming then reads exactly the planned bytes of each WAV. A WAV of a finished
 * recording never changes size, so a file that is gone or shorter by then (deleted meanwhile)
 * ends the stream with an error: the client sees a truncated download, never a corrupt archive
 * that claims to be whole.
 */
import { open, stat } from 'node:fs/promises';
import type { Recording } from '../domain/recording.js';
import type { Logger } from '../log.js';
import { audioFilePath } from '../store/audio-path.js';
import type { Store } from '../store/store.js';
import { renderTranscript, TRANSCRIPT_FORMATS } from '../transcribe/formats.js';
import { tarEnd, tarEntry, tarEntryBytes, type TarEntry } from '../util/tar.js';

export interface ExportDeps {
  readonly store: Store;
  readonly recordingsDir: string;
  readonly logger: Logger;
  readonly nowMs: () => number;
}

interface ManifestEntry {
  readonly id: string;
  readonly title: string | null;
  readonly startedAt: string;
  readonly startedAtMs: number;
  readonly durationMs: number | null;
  readonly status: Recording['status'];
  /** Path inside the archive, or null when the recording has none (see `note`). */
  readonly audio: string | null;
  readonly transcript: Readonly<Record<string, string>> | null;
  readonly note?: string;
}

/** One file of the archive: its header fields and where its bytes come from. */
interface PlannedFile {
  readonly entry: TarEntry;
  /** In memory (transcripts, the manifest), or a WAV read at streaming time. */
  readonly source: { readonly kind: 'bytes'; readonly bytes: Uint8Array } | { readonly kind: 'file'; readonly path: string };
}

export interface ExportPlan {
  readonly files: readonly PlannedFile[];
  /** The exact length of the archive stream. */
  readonly bytes: number;
}

/** Every file of the archive and its exact length; recordings oldest first, the manifest last. */
export async function planExport(
  deps: ExportDeps,
  recordings: readonly Recording[],
  folder: string,
  range: { readonly fromMs: number; readonly toMs: number },
): Promise<ExportPlan> {
  const files: PlannedFile[] = [];
  const entries: ManifestEntry[] = [];
  for (const recording of recordings) {
    const base = { id: recording.id, title: recording.title, startedAt: new Date(recording.startedAtMs).toISOString(), startedAtMs: recording.startedAtMs, durationMs: recording.durationMs, status: recording.status };
    if (recording.status === 'recording') {
      // Its size is not known yet, and a tar header needs it before the first byte.
      entries.push({ ...base, audio: null, transcript: null, note: 'still being recorded' });
      continue;
    }
    const audioName = `${folder}/${recording.id}.wav`;
    const removed = recording.audioRemovedAtMs !== undefined;
    // Deleted on purpose by the retention policy: not looked for, and the manifest says why.
    const audio = removed ? null : await audioFile(deps, recording, audioName);
    if (audio) files.push(audio);
    const transcript = deps.store.transcripts.get(recording.id);
    const names: Record<string, string> = {};
    if (transcript) {
      for (const format of TRANSCRIPT_FORMATS) {
        const name = `${folder}/${recording.id}.${format}`;
        const bytes = Buffer.from(renderTranscript(transcript, format).body, 'utf8');
        files.push({ entry: { name, size: bytes.length, mtimeMs: transcript.createdAtMs }, source: { kind: 'bytes', bytes } });
        names[format] = name;
      }
    }
    entries.push({ ...base, audio: audio ? audioName : null, transcript: transcript ? names : null, ...(audio ? {} : { note: removed ? 'audio removed by the retention policy' : 'audio file missing' }) });
  }
  const manifest = Buffer.from(
    `${JSON.stringify({ exportedAt: new Date(deps.nowMs()).toISOString(), from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), recordings: entries }, null, 2)}\n`,
    'utf8',
  );
  files.push({ entry: { name: `${folder}/manifest.json`, size: manifest.length, mtimeMs: deps.nowMs() }, source: { kind: 'bytes', bytes: manifest } });
  const bytes = files.reduce((sum, file) => sum + tarEntryBytes(file.entry.size), 0) + tarEnd().length;
  return { files, bytes };
}

/** The WAV's entry with the size it has now; null (and logged) if it cannot be read. */
async function audioFile(deps: ExportDeps, recording: Recording, name: string): Promise<PlannedFile | null> {
  const path = audioFilePath(deps.recordingsDir, recording.audioPath);
  try {
    if (path === undefined) throw new Error(`audio path outside the recordings folder: ${recording.audioPath}`);
    const { size, mtimeMs } = await stat(path);
    return { entry: { name, size, mtimeMs }, source: { kind: 'file', path } };
  } catch (error) {
    deps.logger.warn({ err: error, recordingId: recording.id }, 'export: audio file not readable; listed in the manifest without it');
    return null;
  }
}

/** The archive's bytes, exactly `plan.bytes` of them, or an error part-way (see the head). */
export async function* streamExport(plan: ExportPlan): AsyncGenerator<Uint8Array> {
  for (const file of plan.files) {
    if (file.source.kind === 'bytes') {
      yield* tarEntry(file.entry, file.source.bytes);
      continue;
    }
    const handle = await open(file.source.path, 'r');
    try {
      const body = file.entry.size === 0 ? new Uint8Array(0) : handle.createReadStream({ start: 0, end: file.entry.size - 1, autoClose: false });
      // tarEntry throws when the file now has fewer bytes than planned.
      yield* tarEntry(file.entry, body);
    } finally {
      await handle.close();
    }
  }
  yield tarEnd();
}
