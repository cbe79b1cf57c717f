/**
 * Transcribing a recording again from its WAV file: on request (the short-clip path and
 * `POST /api/recordings/:id/transcribe`) and at start-up, for the recordings a restart left
 * `recorded`/`transcribing` without complete jobs. After a restart the file serves every job, so
 * nothing in memory is needed to resume.
 */
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { isStorageError, type StorageErrorReport } from '../ops/storage-errors.js';
import { readPcmRange } from '../audio/wav.js';
import type { Recording } from '../domain/recording.js';
import type { Store } from '../store/store.js';
import type { TranscriptAssembler } from './assemble.js';
import { RecordingInProgressError, UnknownRecordingError } from './recording-errors.js';
import { WindowCutter, type CutWindow, type WindowCutterOptions } from './windows.js';

interface RecutDeps {
  readonly store: Store;
  readonly recordingsDir: string;
  readonly cut: Pick<WindowCutterOptions, 'minSpeechMs' | 'maxWindowMs'>;
}

/** Windows of a finished file, cut the same way as live. */
async function cutFile(path: string, recording: Recording, cut: RecutDeps['cut']): Promise<CutWindow[]> {
  const windows: CutWindow[] = [];
  const cutter = new WindowCutter(
    { sampleRateHz: recording.sampleRateHz, minSpeechMs: cut.minSpeechMs, maxWindowMs: cut.maxWindowMs },
    (window) => windows.push(window),
  );
  const chunkSamples = recording.sampleRateHz * 10;
  let position = 0;
  for (;;) {
    const { pcm, availableFrames, format } = await readPcmRange(path, position, position + chunkSamples);
    if (format.channels !== 1) throw new Error(`${path}: ${format.channels} channels; recordings are mono`);
    if (pcm.length > 0) cutter.feed(pcm);
    position += pcm.length;
    if (position >= availableFrames || pcm.length === 0) break;
  }
  windows.push(cutter.finish(position));
  return windows;
}

/**
 * Replaces the recording's jobs and transcript with the windows of its file, and moves it to
 * `transcribing`, in one transaction. Returns the number of windows.
 */
export async function recutRecording(deps: RecutDeps, recordingId: string): Promise<number> {
  const { store } = deps;
  const recording = store.recordings.get(recordingId);
  if (!recording) throw new UnknownRecordingError(`no recording ${recordingId}`);
  if (recording.status === 'recording') throw new RecordingInProgressError(`recording ${recordingId} is still being recorded`);
  const windows = await cutFile(join(deps.recordingsDir, recording.audioPath), recording, deps.cut);
  store.transaction(() => {
    store.jobs.deleteForRecording(recordingId);
    // The old transcript goes to the history rather than away: a redo on request may be worse.
    store.transcripts.archive(recordingId, 'retranscribe', Date.now());
    windows.forEach((window, index) => {
      store.jobs.enqueue({ recordingId, seq: window.seq, startSample: window.startSample, endSample: window.endSample, final: index === windows.length - 1 });
    });
    // Already `transcribing` (resume of an interrupted one): its jobs were replaced, the status stands.
    if (recording.status !== 'transcribing') store.recordings.setStatus(recordingId, 'transcribing');
  });
  return windows.length;
}

interface ResumeDeps {
  readonly store: Store;
  readonly assembler: TranscriptAssembler;
  /** The transcriber's `enqueueRecording` (re-cut, then tell the queue). */
  readonly enqueueRecording: (recordingId: string) => Promise<number>;
  readonly logger: Logger;
  /** A storage error (a card still full): reported, so the storage watch resumes again once writes work. */
  readonly onStorageError?: StorageErrorReport;
}

/** Start-up: finish what a restart interrupted. */
export async function resumeInterrupted(deps: ResumeDeps): Promise<void> {
  const { recordings, jobs: jobsRepo, transcripts } = deps.store;
  const candidates = [...recordings.findByStatus('recorded'), ...recordings.findByStatus('transcribing')];
  for (const recording of candidates) {
    const jobs = jobsRepo.forRecording(recording.id);
    const hasFinal = jobs.some((job) => job.final);
    try {
      if (hasFinal) {
        if (recording.status === 'recorded' && jobs.some((job) => job.state === 'queued' || job.state === 'running')) {
          deps.assembler.moveTo(recording.id, 'transcribing');
        }
        deps.assembler.completeIfDone(recording.id);
      } else if (recording.status === 'transcribing' || jobs.length > 0 || !transcripts.get(recording.id)) {
        // Never queued, or cut off mid-recording (windows but no tail): start it over from the file.
        await deps.enqueueRecording(recording.id);
      }
    } catch (error) {
      if (isStorageError(error) && deps.onStorageError) deps.onStorageError('resume', error, { recordingId: recording.id });
      else deps.logger.error({ err: error, recordingId: recording.id }, 'cannot resume transcription of a recording');
    }
  }
}
