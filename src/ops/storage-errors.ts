import type { Logger } from '../log.js';
import type { FaultSink } from './faults.js';

/** What a part calls when a database or file write fails; `op` names the operation (a metric label). */
export type StorageErrorReport = (op: string, error: unknown, context?: Readonly<Record<string, unknown>>) => void;

export interface StorageErrorsOptions {
  readonly faults: FaultSink;
  readonly logger: Logger;
}

/**
 * One place for every SQLite/file error the parts catch: counted per operation (for
 * `scout_storage_errors_total{op}`), logged once per operation until storage works again (a full
 * card fails every write; one line per job tick would flood the journal, itself on that card),
 * and shown as the 'storage' fault, which `succeeded()` clears when a later write goes through.
 */
export class StorageErrors {
  private readonly totals = new Map<string, number>();
  private readonly logged = new Set<string>();
  private failingSince: number | null = null;

  constructor(private readonly options: StorageErrorsOptions) {}

  /** Bound, so it can be handed to parts as a plain callback. */
  readonly report: StorageErrorReport = (op, error, context = {}) => {
    this.totals.set(op, (this.totals.get(op) ?? 0) + 1);
    const message = error instanceof Error ? error.message : String(error);
    if (!this.logged.has(op)) {
      this.logged.add(op);
      this.options.logger.error({ err: error, op, ...context }, 'storage error');
    }
    this.failingSince ??= Date.now();
    this.options.faults.set('storage', `storage error (${op}): ${message}`, 'fatal');
  };

  /** A write went through: the storage fault clears and the next error is logged again. */
  succeeded(): void {
    if (this.failingSince === null) return;
    this.options.logger.info({ failingMs: Date.now() - this.failingSince }, 'storage accepts writes again');
    this.failingSince = null;
    this.logged.clear();
    this.options.faults.set('storage', null);
  }

  failing(): boolean {
    return this.failingSince !== null;
  }

  /** Errors so far by operation. */
  counts(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.totals);
  }
}

const STORAGE_ERRNOS = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'EFBIG']);

/** A SQLite error (any SQLITE_* code) or a file system error that means the storage failed. */
export function isStorageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_') || STORAGE_ERRNOS.has(code));
}

/** The database is locked by another connection past the busy timeout: the card itself is fine. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** A short reason for a row or a fault: 'disk full', 'read-only', 'I/O error', else the message. */
export function storageErrorReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return 'disk full';
  if (code === 'EROFS' || code === 'SQLITE_READONLY') return 'read-only file system';
  if (code === 'EIO' || code === 'SQLITE_IOERR') return 'I/O error';
  return error instanceof Error ? error.message : String(error);
}
