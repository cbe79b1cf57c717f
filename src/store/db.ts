import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import type { Logger } from '../log.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type { Database };

/** The database was written by a newer Scout: refuse rather than guess at a schema we do not know. */
export class DatabaseTooNewError extends Error {
  constructor(
    readonly path: string,
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `database ${path} has schema version ${databaseVersion}, but this Scout only knows up to ` +
        `${codeVersion}: it was written by a newer release. Install that release again, or move the ` +
        `database aside to start empty.`,
    );
    this.name = 'DatabaseTooNewError';
  }
}

/**
 * SQLite's own page cache, KiB. better-sqlite3 compiles in 16 MB, which fills as the database
 * grows: up to 16 MB of node's private memory against the 215 MB budget, for pages the kernel's
 * page cache already holds (shared, and given back under pressure). 2 MB is SQLite's upstream
 * default.
 */
export const PAGE_CACHE_KIB = 2000;

export interface OpenDatabaseOptions {
  /** Defaults to the real schema; tests pass their own list. */
  readonly migrations?: readonly Migration[];
  /** How long a statement waits for another connection's lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `migration list is broken: entry ${index} ("${migration.name}") has version ${migration.version}, expected ${index + 1}`,
      );
    }
  });
}

/** The schema version stored in the database header (0 for a new file). */
export function schemaVersion(db: Database): number {
  const version = db.pragma('user_version', { simple: true });
  if (typeof version !== 'number') throw new Error(`unexpected user_version: ${String(version)}`);
  return version;
}

/**
 * Opens (creating if needed) the database and brings its schema up to date.
 *
 * WAL lets the HTTP side read while the recorder writes; `synchronous=FULL` fsyncs the WAL on
 * every commit, because on an appliance that loses power the last committed status of a
 * recording must survive (NORMAL may lose the last transactions on power loss).
 */
export function openDatabase(path: string, logger: Logger, options: OpenDatabaseOptions = {}): Database {
  const migrations = options.migrations ?? MIGRATIONS;
  checkMigrationList(migrations);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });

  try {
    return openWith(path, logger, migrations, options, false);
  } catch (error) {
    if (path === ':memory:' || !isFullOrIoError(error)) throw error;
    // A full card cannot grow the WAL's shared-memory index (-shm): SQLITE_IOERR_SHMSIZE at the
    // first pragma. In exclusive locking mode SQLite keeps that index in heap memory and never
    // creates the file, so the service still comes up, reads, and reports the full disk. Other
    // connections (a maintenance script) are locked out until the next start.
    logger.warn({ err: error, path }, 'database opened in exclusive mode: the card has no room for its shared-memory file');
    try {
      return openWith(path, logger, migrations, options, true);
    } catch (exclusiveError) {
      if (!isReadOnlyDirectory(dirname(path)) || !existsSync(path)) throw exclusiveError;
      return openReadOnlySnapshot(path, logger, migrations, exclusiveError);
    }
  }
}

/**
 * A read-only card (remounted by the kernel after errors, or mounted so): SQLite cannot read a
 * WAL database without creating its -shm, and an exclusive lock needs a writable descriptor, so
 * no real connection opens. A read-only in-memory copy of the file lets the service come up, list
 * and play what is there and report the fault; every write fails with SQLITE_READONLY (counted
 * as a storage error). It stays a copy until the next start: a connection cannot be reopened
 * under the repositories' prepared statements.
 */
function openReadOnlySnapshot(path: string, logger: Logger, migrations: readonly Migration[], cause: unknown): Database {
  const image = readFileSync(path);
  // Bytes 18-19 say WAL (2); an in-memory database cannot be WAL. A clean stop checkpointed the
  // WAL into the file; commits left in a -wal by a crash are not in this copy.
  if (image.length > 19 && image[18] === 2 && image[19] === 2) {
    image[18] = 1;
    image[19] = 1;
  }
  const db = new BetterSqlite3(image, { readonly: true });
  try {
    const version = schemaVersion(db);
    if (version > migrations.length) throw new DatabaseTooNewError(path, version, migrations.length);
    if (version < migrations.length) throw new Error(`database ${path} needs migrations (${version} -> ${migrations.length}) but the storage is read-only`);
  } catch (error) {
    db.close();
    throw error;
  }
  logger.error({ err: cause, path, walLeftBehind: existsSync(`${path}-wal`) }, 'storage is read-only: serving a read-only copy of the database until the next start');
  return db;
}

function isReadOnlyDirectory(directory: string): boolean {
  try {
    accessSync(directory, constants.W_OK);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS';
  }
}

function openWith(path: string, logger: Logger, migrations: readonly Migration[], options: OpenDatabaseOptions, exclusive: boolean): Database {
  const db = new BetterSqlite3(path);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    // Before the first WAL access, or SQLite maps the -shm file anyway.
    if (exclusive) db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    migrate(db, path, migrations, logger);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function isFullOrIoError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN');
}

function migrate(db: Database, path: string, migrations: readonly Migration[], log: Logger): void {
  const codeVersion = migrations.length;
  const startVersion = schemaVersion(db);
  if (startVersion > codeVersion) throw new DatabaseTooNewError(path, startVersion, codeVersion);
  for (const migration of migrations.slice(startVersion)) {
    const startedMs = Date.now();
    // IMMEDIATE takes the write lock first, so two processes opening a new file cannot both
    // decide to run the same migration.
    db.transaction(() => {
      // Re-read under the lock: another connection may have migrated meanwhile.
      if (schemaVersion(db) >= migration.version) return;
      if (typeof migration.up === 'string') db.exec(migration.up);
      else migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
    log.info(
      { version: migration.version, migration: migration.name, durationMs: Date.now() - startedMs },
      'database migrated',
    );
  }
}

/** Closes the database; safe to call twice. */
export function closeDatabase(db: Database): void {
  if (db.open) db.close();
}

export interface WritableCheck {
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Health probe: commits one tiny row. A rolled-back write would only prove the lock can be taken;
 * a commit (with synchronous=FULL, an fsync) proves the card still accepts writes, which is what
 * fails on a full or read-only-remounted SD card. One page per call: cheap at health-check rates.
 */
export function checkWritable(db: Database, nowMs: number = Date.now()): WritableCheck {
  if (!db.open) return { ok: false, message: 'database is closed' };
  try {
    db.prepare(
      'INSERT INTO health_heartbeat (id, at_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms',
    ).run(nowMs);
    return { ok: true, message: 'database accepts writes' };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `database write failed${typeof code === 'string' ? ` (${code})` : ''}: ${reason}` };
  }
}
