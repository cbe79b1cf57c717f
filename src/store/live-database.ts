import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { swappable, type Swappable } from '../util/swappable.js';
import { closeDatabase, openDatabase, type Database } from './db.js';
import { createStore, type Store } from './store.js';
import { RecordingTotalsQuery } from './summary.js';

type RepoKey = Exclude<keyof Store, 'transaction'>;

/** Every repository of a store (all its members but `transaction`). */
function repoKeys(store: Store): RepoKey[] {
  return (Object.keys(store) as (keyof Store)[]).filter((key): key is RepoKey => key !== 'transaction');
}

/**
 * The database connection, its repositories and its totals query, as the parts hold them. On a
 * read-only card the connection is an in-memory copy (./db.ts); once the card takes writes again
 * `reopenIfReadOnly()` opens the real file and swaps every repository over to it, so the service
 * records again without a restart. Nothing was written to the copy (every write failed), so
 * nothing is lost in the swap.
 */
export class LiveDatabase {
  readonly db: Database;
  readonly store: Store;
  readonly totals: RecordingTotalsQuery;
  private readonly connection: Swappable<Database>;
  private readonly repos: Map<RepoKey, Swappable<object>>;
  private readonly totalsSlot: Swappable<RecordingTotalsQuery>;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {
    const db = openDatabase(path, logger);
    this.connection = swappable(db);
    this.db = this.connection.proxy;
    const store = createStore(db, nowMs);
    this.repos = new Map();
    const shell: Record<string, unknown> = {
      // Store.transaction is not a repository: it runs on whichever connection is current.
      transaction: <T>(work: () => T): T => this.connection.current().transaction(work)(),
    };
    for (const key of repoKeys(store)) {
      const slot = swappable<object>(store[key]);
      this.repos.set(key, slot);
      shell[key] = slot.proxy;
    }
    this.store = shell as unknown as Store;
    this.totalsSlot = swappable(new RecordingTotalsQuery(db));
    this.totals = this.totalsSlot.proxy;
  }

  /** True while the connection is the read-only copy made at a read-only start. */
  readOnlyCopy(): boolean {
    return this.connection.current().readonly;
  }

  /**
   * Opens the real database file if the connection is a read-only copy and the directory takes
   * writes again; true when it switched. Cheap while the card stays read-only (one access(2)).
   */
  reopenIfReadOnly(): boolean {
    if (!this.readOnlyCopy()) return false;
    try {
      accessSync(dirname(this.path), constants.W_OK);
    } catch {
      return false;
    }
    let next: Database;
    try {
      next = openDatabase(this.path, this.logger);
    } catch (error) {
      this.logger.warn({ err: error, path: this.path }, 'the data dir is writable again, but the database does not open yet');
      return false;
    }
    if (next.readonly) {
      closeDatabase(next);
      return false;
    }
    const previous = this.connection.current();
    const store = createStore(next, this.nowMs);
    for (const [key, slot] of this.repos) slot.replace(store[key]);
    this.totalsSlot.replace(new RecordingTotalsQuery(next));
    this.connection.replace(next);
    closeDatabase(previous);
    this.logger.info({ path: this.path }, 'storage writable again: the database is the real file once more');
    return true;
  }

  close(): void {
    closeDatabase(this.connection.current());
  }
}
