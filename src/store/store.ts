import type { Database } from './db.js';
import { DeletionsRepo } from './deletions.js';
import { JobsRepo } from './jobs.js';
import { OutboxRepo } from './outbox.js';
import { RecordingsRepo } from './recordings.js';
import { TranscriptsRepo } from './transcripts.js';
import { VocabularyRepo } from './vocabulary.js';

/**
 * The repositories over one database, built once by the composer and shared by every part, so
 * that one RecordingsRepo owns the recordings table (and its status guard) for the process.
 */
export interface Store {
  readonly recordings: RecordingsRepo;
  readonly jobs: JobsRepo;
  readonly transcripts: TranscriptsRepo;
  /** Audio files of deleted recordings not yet confirmed gone (see ./deletions.ts). */
  readonly deletions: DeletionsRepo;
  /** The terms sent to whisper as its prompt (see ../domain/vocabulary.ts). */
  readonly vocabulary: VocabularyRepo;
  /** What the integrations still have to deliver, and the recent deliveries (see ./outbox.ts). */
  readonly outbox: OutboxRepo;
  /** Runs `work` in one SQLite transaction: every write in it lands, or none does. */
  transaction<T>(work: () => T): T;
}

export function createStore(db: Database, nowMs: () => number = Date.now): Store {
  return {
    recordings: new RecordingsRepo(db, nowMs),
    jobs: new JobsRepo(db, nowMs),
    transcripts: new TranscriptsRepo(db),
    deletions: new DeletionsRepo(db),
    vocabulary: new VocabularyRepo(db, nowMs),
    outbox: new OutboxRepo(db, nowMs),
    transaction: (work) => db.transaction(work)(),
  };
}
