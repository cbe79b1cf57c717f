/**
 * `scout follow [id]`: the live recording as it is spoken and transcribed, like `tail -f`.
 *
 * It follows one recording at a time: the one named, or the one being recorded now, or the next
 * one to start. On a terminal one line is redrawn in place (status and the text so far); in a
 * pipe each step is a line of its own (`<id> recording`, `<id> partial: <window text>`,
 * `<id> final: <text>`); `--json` prints each event as one JSON object per line. Without a
 * named id, once a recording is done it waits for the next. `--until-done` ends once the followed
 * recording's transcript is complete (exit 1 if transcription failed). Ctrl-C ends it (exit 0).
 */
import type { RecordingStatus } from '../../domain/recording.js';
import type { ApiClient } from '../api.js';
import { println, type CommandContext, type Out } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { printable } from '../render.js';
import { streamEvents, type SseMessage } from '../sse.js';

export interface FollowOptions {
  readonly untilDone?: boolean;
}

type Mode = 'tty' | 'lines' | 'json';

interface RecordingView {
  readonly id: string;
  readonly status: RecordingStatus;
  readonly transcript?: { readonly state: 'none' | 'partial' | 'done'; readonly text?: string };
}

/** What the follower needs from the box besides the stream (a seam for the unit tests). */
export interface FollowSource {
  recording(id: string): Promise<RecordingView | null>;
  currentRecordingId(): Promise<string | null>;
  finalText(id: string): Promise<string | null>;
}

/** The result of one event: keep going, or stop with this exit code. */
type Step = { readonly stop: false } | { readonly stop: true; readonly code: number };
const GO_ON: Step = { stop: false };

export class Follower {
  private current: string | null;
  private status: string = '';
  private text = '';
  private drawn = false;
  private readonly finished = new Set<string>();

  constructor(
    private readonly out: Out,
    private readonly mode: Mode,
    private readonly source: FollowSource,
    private readonly target: string | null,
    private readonly untilDone: boolean,
  ) {
    this.current = target;
  }

  /** After (re)connecting or a `reset`: where do things stand now? */
  async sync(): Promise<Step> {
    const id = this.target ?? this.current ?? (await this.source.currentRecordingId());
    if (id === null) {
      if (this.mode === 'tty' && !this.drawn) this.draw('waiting for a recording (press the button)');
      return GO_ON;
    }
    const recording = await this.source.recording(id);
    if (recording === null) return this.gone(id);
    this.adopt(id);
    if (recording.transcript?.state === 'partial' && recording.transcript.text !== undefined) this.text = recording.transcript.text.trim();
    return this.statusChanged(id, recording.status);
  }

  async handle(message: SseMessage): Promise<Step> {
    if (message.event === 'reset') return this.sync();
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(message.data) as Record<string, unknown>;
    } catch {
      return GO_ON;
    }
    if (this.mode === 'json' && message.event !== 'level') println(this.out, JSON.stringify({ id: message.id === null ? null : Number(message.id), ...event }));
    switch (message.event) {
      case 'phase': {
        const id = typeof event.recordingId === 'string' ? event.recordingId : null;
        if (event.phase === 'recording' && id !== null && this.current === null && !this.finished.has(id)) {
          this.adopt(id);
          return this.statusChanged(id, 'recording');
        }
        return GO_ON;
      }
      case 'recording': {
        const id = typeof event.id === 'string' ? event.id : null;
        if (id === null) return GO_ON;
        if (this.current === null && event.change === 'created' && !this.finished.has(id)) this.adopt(id);
        if (id !== this.current) return GO_ON;
        if (event.change === 'deleted') return this.gone(id);
        return typeof event.status === 'string' ? this.statusChanged(id, event.status as RecordingStatus) : GO_ON;
      }
      case 'partial': {
        if (event.recordingId !== this.current || this.current === null || typeof event.text !== 'string') return GO_ON;
        const windowText = printable(event.text).trim();
        if (this.mode === 'lines' && windowText !== '') println(this.out, `${this.current} partial: ${windowText}`);
        if (this.mode === 'tty') {
          // The stitched text (overlaps between windows removed) is the box's to compute.
          const recording = await this.source.recording(this.current);
          this.text = recording?.transcript?.text?.trim() ?? `${this.text} ${windowText}`.trim();
          this.redraw();
        }
        return GO_ON;
      }
      default:
        return GO_ON;
    }
  }

  /** Leaves the terminal on a fresh line (Ctrl-C, end of stream). */
  close(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private adopt(id: string): void {
    if (this.current === id && this.status !== '') return;
    this.current = id;
    this.status = '';
    this.text = '';
  }

  private async statusChanged(id: string, status: RecordingStatus): Promise<Step> {
    if (status === this.status) return GO_ON;
    this.status = status;
    if (this.mode === 'lines') println(this.out, `${id} ${status}`);
    if (status === 'transcribed') {
      const text = await this.source.finalText(id);
      this.line(`${id} final: ${text === null ? '(no transcript)' : printable(text).trim()}`);
      return this.done(id, EXIT.ok);
    }
    if (status === 'failed') {
      this.line(`${id} failed: transcription did not finish (scout get ${id} --json says why)`);
      return this.done(id, EXIT.failed);
    }
    this.redraw();
    return GO_ON;
  }

  private gone(id: string): Step {
    this.line(`${id} deleted`);
    return this.done(id, EXIT.notFound);
  }

  private done(id: string, code: number): Step {
    this.finished.add(id);
    if (this.untilDone || this.target !== null) return { stop: true, code };
    // tail -f: wait for the next recording.
    this.current = null;
    this.status = '';
    this.text = '';
    return GO_ON;
  }

  /** A finished line: clears the in-place line first on a terminal; silent in JSON mode. */
  private line(text: string): void {
    if (this.mode === 'json') return;
    if (this.mode === 'tty' && this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
    println(this.out, text);
  }

  private redraw(): void {
    if (this.mode !== 'tty' || this.current === null) return;
    this.draw(`${this.current} ${this.status}${this.text === '' ? '' : `  ${this.text}`}`);
  }

  private draw(text: string): void {
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    // The end of the text is what is new: keep the tail when it does not fit.
    const shown = text.length <= width ? text : `…${text.slice(text.length - width + 1)}`;
    this.out.write(`\r\x1b[2K${shown}`);
    this.drawn = true;
  }
}

export function followSource(client: ApiClient): FollowSource {
  return {
    async recording(id) {
      const answer = await client.json<RecordingView>(`/api/recordings/${encodeURIComponent(id)}`, { accept: [404] });
      return answer.status === 404 ? null : answer.body;
    },
    async currentRecordingId() {
      const state = (await client.json<{ appliance?: { recordingId?: string | null } }>('/api/state')).body;
      return state.appliance?.recordingId ?? null;
    },
    async finalText(id) {
      const answer = await client.text(`/api/recordings/${encodeURIComponent(id)}/transcript`, { query: { format: 'txt' }, accept: [404, 409] });
      return answer.status === 200 ? answer.body : null;
    },
  };
}

export async function follow(ctx: CommandContext, id: string | undefined, options: FollowOptions): Promise<number> {
  const client = await ctx.client();
  const mode: Mode = ctx.options.json === true ? 'json' : ctx.pretty ? 'tty' : 'lines';
  const follower = new Follower(ctx.io.stdout, mode, followSource(client), id ?? null, options.untilDone === true);
  let code: number = EXIT.ok;
  const apply = (step: Step): boolean => {
    if (step.stop) code = step.code;
    return step.stop;
  };
  try {
    await streamEvents(client, {
      signal: ctx.io.interrupt,
      // Synced after the stream is open, so nothing that happens in between is missed.
      onOpen: async () => apply(await follower.sync()),
      onMessage: async (message) => apply(await follower.handle(message)),
      onDisconnect: (reason) => {
        follower.close();
        if (mode !== 'json') println(ctx.io.stderr, `scout: event stream lost (${reason}); reconnecting`);
      },
    });
  } finally {
    follower.close();
  }
  return code;
}
