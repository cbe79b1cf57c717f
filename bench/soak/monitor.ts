/**
 * What runs beside the cycles: a once-a-second memory sample of the service and its whisper-server
 * (VmRSS from /proc, the engine found again each time so a restart is seen), API clients polling
 * the way the page and Prometheus do, and an SSE subscriber that notes when each recording reaches
 * a final status.
 */
import { procMemory } from '../lib/proc.js';
import { SseClient } from '../../test/helpers/sse-client.js';
import type { Service } from './service.js';

export interface RssSample {
  /** ms since the soak's first cycle. */
  readonly atMs: number;
  /** The cycle running at the time. */
  readonly cycle: number;
  readonly serviceKb: number;
  readonly engineKb: number;
  /** Anonymous RSS of both (RssAnon): what the cgroup's MemoryMax cannot reclaim. */
  readonly anonKb: number;
  readonly enginePid: number | null;
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  readonly enginePids = new Set<number>();
  cycle = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly service: Service,
    private readonly startedAtMs: number,
  ) {}

  start(intervalMs = 1000): void {
    this.take();
    this.timer = setInterval(() => this.take(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sample now (also used for the per-cycle idle samples); null when the service is gone. */
  take(): RssSample | null {
    const service = procMemory(this.service.pid);
    if (!service) return null;
    const pid = this.service.enginePid() ?? null;
    const engine = pid === null ? null : procMemory(pid);
    if (pid !== null) this.enginePids.add(pid);
    const sample = { atMs: Date.now() - this.startedAtMs, cycle: this.cycle, serviceKb: service.rssKb, engineKb: engine?.rssKb ?? 0, anonKb: service.rssAnonKb + (engine?.rssAnonKb ?? 0), enginePid: pid };
    this.samples.push(sample);
    return sample;
  }
}

interface Poll {
  readonly name: string;
  readonly path: string;
  readonly everyMs: number;
}

/** The page's list and search, its state and summary; a health checker; a Prometheus scrape. */
const POLLS: readonly Poll[] = [
  { name: 'list', path: '/api/recordings?limit=20', everyMs: 1000 },
  { name: 'state', path: '/api/state', everyMs: 1000 },
  { name: 'search', path: '/api/recordings?q=plumber&limit=10', everyMs: 5000 },
  { name: 'summary', path: '/api/summary', everyMs: 5000 },
  { name: 'health', path: '/healthz', everyMs: 5000 },
  { name: 'metrics', path: '/metrics', everyMs: 5000 },
];

export interface ClientCounts {
  requests: number;
  /** Network errors and statuses other than 2xx (503 from /healthz is counted under unhealthy). */
  failures: number;
  unhealthy: number;
  lastFailure: string | null;
}

interface ListedRecording {
  readonly id: string;
  readonly status: string;
}

const FINAL = new Set(['transcribed', 'failed']);

export class ApiClients {
  readonly counts = new Map<string, ClientCounts>();
  /** Recording id -> when a client first saw it final (SSE or the list poll), ms epoch. */
  readonly finalSeenAtMs = new Map<string, { atMs: number; via: 'sse' | 'poll'; status: string }>();
  sseEvents = 0;
  sseReconnects = 0;
  private sse: SseClient | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly service: Service) {}

  async start(): Promise<void> {
    await this.connectSse();
    for (const poll of POLLS) {
      this.counts.set(poll.name, { requests: 0, failures: 0, unhealthy: 0, lastFailure: null });
      let busy = false;
      this.timers.push(
        setInterval(() => {
          // One request per client at a time, like a browser tab's polling.
          if (busy || this.stopped) return;
          busy = true;
          void this.pollOnce(poll).finally(() => (busy = false));
        }, poll.everyMs),
      );
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.sse?.close();
  }

  totals(): { requests: number; failures: number; unhealthy: number } {
    let requests = 0;
    let failures = 0;
    let unhealthy = 0;
    for (const c of this.counts.values()) {
      requests += c.requests;
      failures += c.failures;
      unhealthy += c.unhealthy;
    }
    return { requests, failures, unhealthy };
  }

  private note(id: string, status: string, via: 'sse' | 'poll'): void {
    if (!FINAL.has(status) || this.finalSeenAtMs.has(id)) return;
    this.finalSeenAtMs.set(id, { atMs: Date.now(), via, status });
  }

  private async pollOnce(poll: Poll): Promise<void> {
    const counts = this.counts.get(poll.name);
    if (!counts) return;
    counts.requests++;
    try {
      const response = await this.service.api<unknown>(poll.path);
      if (poll.name === 'health' && response.status === 503) counts.unhealthy++;
      else if (response.status < 200 || response.status >= 300) {
        counts.failures++;
        counts.lastFailure = `HTTP ${response.status}`;
      }
      if (poll.name === 'list' && response.status === 200) {
        for (const item of (response.body as { items: ListedRecording[] }).items) this.note(item.id, item.status, 'poll');
      }
    } catch (error) {
      if (this.stopped) return;
      counts.failures++;
      counts.lastFailure = (error as Error).message;
    }
  }

  private async connectSse(): Promise<void> {
    const port = Number(new URL(this.service.base).port);
    const client = await SseClient.connect(port, { authorization: `Bearer ${this.service.token}` });
    this.sse = client;
    let seen = 0;
    const drain = (): void => {
      for (; seen < client.events.length; seen++) {
        const event = client.events[seen];
        if (!event) continue;
        this.sseEvents++;
        if (event.event !== 'recording') continue;
        try {
          const data = JSON.parse(event.data) as { id?: string; status?: string };
          if (data.id !== undefined && data.status !== undefined) this.note(data.id, data.status, 'sse');
        } catch {
          // not JSON: counted as an event, nothing to note
        }
      }
    };
    void (async () => {
      while (!this.stopped && !client.ended) {
        await client.until((c) => c.events.length > seen || c.ended, 60_000).catch(() => undefined);
        drain();
      }
      drain();
      if (this.stopped) return;
      // Dropped (slow-client bound, or the service went away): come back like an EventSource.
      this.sseReconnects++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await this.connectSse().catch(() => undefined);
    })();
  }
}
