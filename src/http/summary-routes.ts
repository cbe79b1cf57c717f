/**
 * GET /api/summary: what the page's storage panel shows in one answer.
 *   200 { recordings: { count, bytes, durationMs, hours }, disk: { freeBytes, totalBytes } | null }
 * `bytes` is the audio the recordings hold (from the database, not a walk of the folder);
 * `disk` is the filesystem the recordings live on, null when it cannot be read (the list still
 * works without it). Free space is what an unprivileged writer gets (bavail), the same figure
 * the appliance's minimum-free check uses.
 */
import { statfs } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { RecordingTotals } from '../store/summary.js';

export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export interface SummaryRouteDeps {
  readonly totals: () => RecordingTotals;
  readonly recordingsDir: string;
  /** Injected in tests; statfs of the recordings folder otherwise. */
  readonly disk?: (dir: string) => Promise<DiskSpace>;
}

const HOUR_MS = 3_600_000;

async function statfsDisk(dir: string): Promise<DiskSpace> {
  const stats = await statfs(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

// Generic over the logger so the server's instance (typed with our pino Logger) fits as it is.
export function registerSummaryRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  deps: SummaryRouteDeps,
): void {
  const disk = deps.disk ?? statfsDisk;
  app.get('/api/summary', async (request) => {
    const totals = deps.totals();
    let space: DiskSpace | null = null;
    try {
      space = await disk(deps.recordingsDir);
    } catch (error) {
      request.log.warn({ err: error }, 'summary: disk space not readable');
    }
    return {
      recordings: { ...totals, hours: Math.round((totals.durationMs / HOUR_MS) * 100) / 100 },
      disk: space,
    };
  });
}
