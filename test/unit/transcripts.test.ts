import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingsRepo } from '../../src/store/recordings.js';
import { TranscriptsRepo } from '../../src/store/transcripts.js';
import { type Transcript } from '../../src/domain/transcript.js';

let dir: string;
let db: Database;
let repo: TranscriptsRepo;
const ID = '01jabcdefghjkmnpqrstvwxyz0';

const transcript: Transcript = {
  recordingId: ID,
  text: 'Hello there.',
  segments: [{ startMs: 120, endMs: 1400, text: 'Hello there.' }],
  model: 'ggml-tiny.en.bin',
  threads: 2,
  audioCtx: 164,
  audioDurationMs: 2000,
  processingMs: 230,
  realTimeFactor: 0.115,
  tier: 'constrained',
  degraded: true,
  noSpeechReason: null,
  windows: 1,
  vocabulary: ['Kenobi', 'Zoë Okafor'],
  engine: 'mixed',
  createdAtMs: 1_700_000_000_000,
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scout-tr-'));
  db = openDatabase(join(dir, 'scout.db'), silentLogger());
  new RecordingsRepo(db).create({ id: ID, startedAtMs: 1, audioPath: `${ID}.wav`, sampleRateHz: 16000, preRollMs: 0 });
  repo = new TranscriptsRepo(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

describe('TranscriptsRepo', () => {
  it('stores every field and reads it back after a reopen', () => {
    repo.save(transcript);
    closeDatabase(db);
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    expect(new TranscriptsRepo(db).get(ID)).toEqual(transcript);
  });

  it('a re-transcription replaces the row; a no-speech transcript keeps its reason', () => {
    repo.save(transcript);
    repo.save({ ...transcript, text: '', segments: [], noSpeechReason: 'no speech', tier: null, degraded: false });
    expect(repo.get(ID)).toMatchObject({ text: '', segments: [], noSpeechReason: 'no speech', tier: null, degraded: false });
  });

  it('keeps an empty vocabulary apart from an unknown one (null: made before vocabularies)', () => {
    repo.save({ ...transcript, vocabulary: [] });
    expect(repo.get(ID)?.vocabulary).toEqual([]);
    repo.save({ ...transcript, vocabulary: null });
    expect(repo.get(ID)?.vocabulary).toBeNull();
  });

  it('goes with its recording', () => {
    repo.save(transcript);
    new RecordingsRepo(db).delete(ID);
    expect(repo.get(ID)).toBeUndefined();
    expect(repo.delete(ID)).toBe(false);
  });
});
