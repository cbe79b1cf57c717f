/**
 * The soak's progress on stderr: redrawn in place on a terminal, a plain line every few cycles
 * otherwise (CI logs, `> file 2>&1`), so stdout keeps only the report.
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export function progressLine(done: number, total: number, elapsedMs: number, remainingMs: number, note: string, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${done}/${total}  ${formatDuration(elapsedMs)} elapsed, ~${formatDuration(remainingMs)} left  ${note}`;
}

export class Progress {
  private readonly tty: boolean;
  private lastLineAt = -1;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly everyCycles = Math.max(1, Math.round(total / 20)),
  ) {
    this.tty = stream.isTTY;
  }

  update(done: number, elapsedMs: number, remainingMs: number, note: string): void {
    const line = progressLine(done, this.total, elapsedMs, remainingMs, note);
    if (this.tty) {
      const columns = this.stream.columns > 0 ? this.stream.columns : 120;
      this.stream.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
      return;
    }
    if (done === this.lastLineAt) return;
    if (done === 0 || done === this.total || done % this.everyCycles === 0) {
      this.lastLineAt = done;
      this.stream.write(`soak ${line}\n`);
    }
  }

  done(): void {
    if (this.tty) this.stream.write('\n');
  }
}
