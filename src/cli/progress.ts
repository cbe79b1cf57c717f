/**
 * A progress line on stderr for long downloads: bytes received, the rate, and when the box sent
 * a content-length, a bar and a percentage. Redrawn in place (`\r` + clear line) at most every
 * `intervalMs`, and only on a terminal: a script's stderr gets nothing until the summary.
 */
export interface ProgressOut {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit] ?? 'TB'}`;
}

/** One frame of the progress line, `width` columns at most. Pure, for tests. */
export function progressLine(label: string, receivedBytes: number, totalBytes: number | null, elapsedMs: number, width: number): string {
  const rate = elapsedMs > 0 ? `${formatBytes((receivedBytes * 1000) / elapsedMs)}/s` : '';
  if (totalBytes === null || totalBytes <= 0) return truncate(`${label} ${formatBytes(receivedBytes)}  ${rate}`.trimEnd(), width);
  const fraction = Math.min(1, receivedBytes / totalBytes);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const text = ` ${percent} ${formatBytes(receivedBytes)} of ${formatBytes(totalBytes)}  ${rate}`;
  const barWidth = Math.max(0, Math.min(40, width - label.length - text.length - 3));
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0 ? ` [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]` : '';
  return truncate(`${label}${bar}${text}`.trimEnd(), width);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width));
}

export class Progress {
  private received = 0;
  private lastDrawMs = 0;
  private drawn = false;
  private readonly startedMs: number;

  constructor(
    private readonly out: ProgressOut,
    private readonly label: string,
    private readonly totalBytes: number | null,
    private readonly intervalMs = 100,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.startedMs = nowMs();
  }

  get bytes(): number {
    return this.received;
  }

  add(bytes: number): void {
    this.received += bytes;
    const now = this.nowMs();
    if (!this.out.isTTY || now - this.lastDrawMs < this.intervalMs) return;
    this.lastDrawMs = now;
    this.draw(now);
  }

  /** Clears the line so the summary that follows starts at column 0. */
  done(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(now: number): void {
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    this.out.write(`\r\x1b[2K${progressLine(this.label, this.received, this.totalBytes, now - this.startedMs, width)}`);
    this.drawn = true;
  }
}
