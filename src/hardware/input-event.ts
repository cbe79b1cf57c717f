/**
 * Linux evdev `struct input_event` records, as read from `/dev/input/event*`, and the
 * `/proc/bus/input/devices` finder that turns "the gpio-keys button" into an event path.
 *
 * struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; }
 * - 64-bit ABI (arm64, x64): timeval is two 64-bit longs -> 16 + 2 + 2 + 4 = 24 bytes;
 * - 32-bit ABI (armhf/armv7, ia32): two 32-bit longs -> 8 + 2 + 2 + 4 = 16 bytes.
 * What matters is the ABI of the reading process, not the kernel's: a 32-bit Raspberry Pi OS
 * userland on a 64-bit kernel gets 16-byte records through the kernel's compat layer. That is
 * why the default follows `process.arch`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const EV_SYN = 0x00;
export const EV_KEY = 0x01;
export const EV_MSC = 0x04;
/** EV_SYN code: the client fell behind and the kernel dropped reports. */
export const SYN_DROPPED = 3;
/** linux/input-event-codes.h; the default keycode of Scout's `gpio-key` overlay line. */
export const KEY_RECORD = 167;
export const BTN_0 = 0x100;

/** EV_KEY values. */
export const KEY_RELEASED = 0;
export const KEY_PRESSED = 1;
/** Sent while a key is held when the device has autorepeat on; never an edge. */
export const KEY_AUTOREPEAT = 2;

export type InputEventRecordSize = 16 | 24;

export interface InputEvent {
  /** Kernel timestamp of the event (CLOCK_REALTIME unless someone changed the evdev clock), in ms since the epoch, with sub-ms fraction. */
  readonly timeMs: number;
  readonly type: number;
  readonly code: number;
  readonly value: number;
}

/** Record size for a process of the given Node arch: 16 on 32-bit ABIs, 24 on 64-bit ones. */
export function inputEventRecordSize(arch: string = process.arch): InputEventRecordSize {
  return arch === 'arm' || arch === 'ia32' || arch === 'mips' || arch === 'mipsel' || arch === 'ppc' ? 16 : 24;
}

/** Encodes one record; the inverse of the decoder. Used by tests and fakes to feed a FIFO exactly as the kernel would. */
export function encodeInputEvent(event: InputEvent, recordSize: InputEventRecordSize = inputEventRecordSize()): Buffer {
  const record = Buffer.alloc(recordSize);
  const seconds = Math.floor(event.timeMs / 1000);
  const micros = Math.round((event.timeMs - seconds * 1000) * 1000);
  if (recordSize === 24) {
    record.writeBigInt64LE(BigInt(seconds), 0);
    record.writeBigInt64LE(BigInt(micros), 8);
  } else {
    record.writeUInt32LE(seconds >>> 0, 0);
    record.writeUInt32LE(micros, 4);
  }
  const tail = recordSize - 8;
  record.writeUInt16LE(event.type, tail);
  record.writeUInt16LE(event.code, tail + 2);
  record.writeInt32LE(event.value, tail + 4);
  return record;
}

/**
 * Splits a byte stream into records. A read from a char device returns whole records, but a
 * FIFO, a stream's chunking or a short read can cut one in two: the carry keeps the piece
 * (at most one record, preallocated) until the rest arrives.
 */
export class InputEventDecoder {
  private readonly carry: Buffer;
  private carried = 0;

  constructor(readonly recordSize: InputEventRecordSize = inputEventRecordSize()) {
    this.carry = Buffer.alloc(recordSize);
  }

  /** Bytes of an incomplete record waiting for the rest. */
  get pendingBytes(): number {
    return this.carried;
  }

  /** Drops a partial record, e.g. when the device was reopened and the rest will never come. */
  reset(): void {
    this.carried = 0;
  }

  push(chunk: Buffer, onEvent: (event: InputEvent) => void): void {
    let offset = 0;
    if (this.carried > 0) {
      const needed = this.recordSize - this.carried;
      const taken = Math.min(needed, chunk.length);
      chunk.copy(this.carry, this.carried, 0, taken);
      this.carried += taken;
      offset = taken;
      if (this.carried < this.recordSize) return;
      this.carried = 0;
      onEvent(this.decodeAt(this.carry, 0));
    }
    while (offset + this.recordSize <= chunk.length) {
      onEvent(this.decodeAt(chunk, offset));
      offset += this.recordSize;
    }
    if (offset < chunk.length) {
      chunk.copy(this.carry, 0, offset);
      this.carried = chunk.length - offset;
    }
  }

  private decodeAt(buffer: Buffer, offset: number): InputEvent {
    let seconds: number;
    let micros: number;
    if (this.recordSize === 24) {
      seconds = Number(buffer.readBigInt64LE(offset));
      micros = Number(buffer.readBigInt64LE(offset + 8));
    } else {
      // The 32-bit time_t of the compat ABI; unsigned so it lasts until 2106 rather than 2038.
      seconds = buffer.readUInt32LE(offset);
      micros = buffer.readUInt32LE(offset + 4);
    }
    const tail = offset + this.recordSize - 8;
    return {
      timeMs: seconds * 1000 + micros / 1000,
      type: buffer.readUInt16LE(tail),
      code: buffer.readUInt16LE(tail + 2),
      value: buffer.readInt32LE(tail + 4),
    };
  }
}

/** One block of /proc/bus/input/devices. */
export interface InputDeviceInfo {
  readonly name: string;
  readonly phys: string;
  readonly sysfs: string;
  /** Handlers such as `kbd`, `event0`. */
  readonly handlers: readonly string[];
  /** Words of the `B: KEY=` bitmap, most significant first, as printed by the kernel. */
  readonly keyBitmapWords: readonly bigint[];
}

export function parseInputDevices(text: string): InputDeviceInfo[] {
  const devices: InputDeviceInfo[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    let name = '';
    let phys = '';
    let sysfs = '';
    let handlers: string[] = [];
    let keyBitmapWords: bigint[] = [];
    let seen = false;
    for (const line of block.split('\n')) {
      const match = /^([A-Z]): (.*)$/.exec(line.trimEnd());
      if (!match) continue;
      const [, kind, rest = ''] = match;
      seen = true;
      if (kind === 'N') name = /^Name="(.*)"$/.exec(rest)?.[1] ?? '';
      else if (kind === 'P') phys = rest.replace(/^Phys=/, '');
      else if (kind === 'S') sysfs = rest.replace(/^Sysfs=/, '');
      else if (kind === 'H') handlers = rest.replace(/^Handlers=/, '').split(/\s+/).filter(Boolean);
      else if (kind === 'B' && rest.startsWith('KEY=')) {
        keyBitmapWords = rest
          .slice(4)
          .split(/\s+/)
          .filter(Boolean)
          .map((word) => BigInt(`0x${word}`));
      }
    }
    if (seen) devices.push({ name, phys, sysfs, handlers, keyBitmapWords });
  }
  return devices;
}

/**
 * True when the device's key bitmap has `keyCode`. The kernel prints the bitmap as longs,
 * so the word width is the kernel's (64 on an arm64 kernel, 32 on armhf), not the process's.
 */
export function deviceHasKey(device: InputDeviceInfo, keyCode: number, bitsPerWord: 32 | 64 = 64): boolean {
  const wordFromEnd = Math.floor(keyCode / bitsPerWord);
  const word = device.keyBitmapWords[device.keyBitmapWords.length - 1 - wordFromEnd];
  if (word === undefined) return false;
  return ((word >> BigInt(keyCode % bitsPerWord)) & 1n) === 1n;
}

export interface InputDeviceMatch {
  /** Exact device name (`N: Name=`), e.g. `button@11` for the `gpio-key` overlay on GPIO 17. */
  readonly name?: string;
  /** Prefix of `P: Phys=`, e.g. `gpio-keys/` for every gpio-keys device. */
  readonly physPrefix?: string;
  /** The device must be able to send this key code. */
  readonly keyCode?: number;
  readonly bitsPerWord?: 32 | 64;
}

export interface FindInputDeviceOptions {
  /** `/proc/bus/input/devices` on a Pi; a temp file in tests. */
  readonly procDevicesPath: string;
  readonly match: InputDeviceMatch;
  /** Where the event nodes live; default `/dev/input`. */
  readonly devDir?: string;
}

/** The event node (e.g. `/dev/input/event0`) of the first device that matches every given criterion; null if none does. */
export async function findInputDevice(options: FindInputDeviceOptions): Promise<string | null> {
  const text = await readFile(options.procDevicesPath, 'utf8');
  const { match } = options;
  for (const device of parseInputDevices(text)) {
    if (match.name !== undefined && device.name !== match.name) continue;
    if (match.physPrefix !== undefined && !device.phys.startsWith(match.physPrefix)) continue;
    if (match.keyCode !== undefined && !deviceHasKey(device, match.keyCode, match.bitsPerWord)) continue;
    const handler = device.handlers.find((h) => /^event\d+$/.test(h));
    if (handler) return path.join(options.devDir ?? '/dev/input', handler);
  }
  return null;
}
