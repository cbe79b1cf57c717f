import { randomBytes } from 'node:crypto';

/**
 * Recording ids: ULID-shaped (26 chars of Crockford base32, 10 for the millisecond time, 16
 * random), lower-case so they read well in file names and URLs. They sort lexically in
 * creation order, which keeps `ls` of the recordings folder and the database index in the
 * same order, and they contain no character that needs escaping in a path or a URL.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
export const RECORDING_ID_LENGTH = TIME_CHARS + RANDOM_CHARS;
// 48 bits of milliseconds: good until the year 10889.
const MAX_TIME_MS = 2 ** 48 - 1;

const ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** True for a string shaped like an id this module makes (the HTTP layer checks :id with it). */
export function isRecordingId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The creation time encoded in an id, in ms since the epoch. */
export function recordingIdTimeMs(id: string): number {
  if (!isRecordingId(id)) throw new Error(`not a recording id: ${JSON.stringify(id)}`);
  let timeMs = 0;
  for (let i = 0; i < TIME_CHARS; i++) timeMs = timeMs * 32 + ALPHABET.indexOf(id.charAt(i));
  return timeMs;
}

function encodeTime(timeMs: number): string {
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > MAX_TIME_MS) {
    throw new RangeError(`id time out of range: ${timeMs}`);
  }
  let out = '';
  let rest = timeMs;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET.charAt(rest % 32) + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/**
 * Makes ids that are strictly increasing even for several ids in the same millisecond or a clock
 * that steps back (NTP correcting a Pi that booted without a network): in both cases the random
 * part of the previous id is incremented instead of drawing a new one, as the ULID spec does.
 */
export class RecordingIdGenerator {
  private lastTimeMs = -1;
  private lastRandom: number[] = [];

  constructor(
    private readonly nowMs: () => number = Date.now,
    private readonly random: (bytes: number) => Uint8Array = randomBytes,
  ) {}

  next(): string {
    const now = this.nowMs();
    if (now > this.lastTimeMs) {
      this.lastTimeMs = now;
      const bytes = this.random(RANDOM_CHARS);
      this.lastRandom = Array.from(bytes.subarray(0, RANDOM_CHARS), (b) => b % 32);
    } else {
      this.incrementRandom();
    }
    return encodeTime(this.lastTimeMs) + this.lastRandom.map((d) => ALPHABET.charAt(d)).join('');
  }

  private incrementRandom(): void {
    for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
      const digit = this.lastRandom[i] ?? 0;
      if (digit < 31) {
        this.lastRandom[i] = digit + 1;
        return;
      }
      this.lastRandom[i] = 0;
    }
    // 32^16 ids in one millisecond cannot happen; moving time on keeps the order anyway.
    this.lastTimeMs += 1;
  }
}

const defaultGenerator = new RecordingIdGenerator();

/** A new id from the process-wide generator (monotonic within this process). */
export function newRecordingId(): string {
  return defaultGenerator.next();
}
