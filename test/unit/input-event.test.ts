import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BTN_0,
  EV_KEY,
  EV_SYN,
  InputEventDecoder,
  KEY_RECORD,
  deviceHasKey,
  encodeInputEvent,
  findInputDevice,
  inputEventRecordSize,
  parseInputDevices,
  type InputEvent,
} from '../../src/hardware/input-event.js';

describe('struct input_event layout', () => {
  it('is 24 bytes for 64-bit processes and 16 for 32-bit ARM', () => {
    expect(inputEventRecordSize('arm64')).toBe(24);
    expect(inputEventRecordSize('x64')).toBe(24);
    expect(inputEventRecordSize('arm')).toBe(16);
    expect(inputEventRecordSize('ia32')).toBe(16);
  });

  it('puts timeval, type, code and value where the kernel does (64-bit)', () => {
    const record = encodeInputEvent({ timeMs: 1_700_000_000_123.456, type: EV_KEY, code: KEY_RECORD, value: 1 }, 24);
    expect(record.length).toBe(24);
    expect(record.readBigInt64LE(0)).toBe(1_700_000_000n);
    expect(record.readBigInt64LE(8)).toBe(123_456n);
    expect(record.readUInt16LE(16)).toBe(EV_KEY);
    expect(record.readUInt16LE(18)).toBe(KEY_RECORD);
    expect(record.readInt32LE(20)).toBe(1);
  });

  it('puts them where a 32-bit kernel ABI does (16 bytes)', () => {
    const record = encodeInputEvent({ timeMs: 1_700_000_000_250, type: EV_KEY, code: BTN_0, value: 0 }, 16);
    expect(record.length).toBe(16);
    expect(record.readUInt32LE(0)).toBe(1_700_000_000);
    expect(record.readUInt32LE(4)).toBe(250_000);
    expect(record.readUInt16LE(8)).toBe(EV_KEY);
    expect(record.readUInt16LE(10)).toBe(BTN_0);
    expect(record.readInt32LE(12)).toBe(0);
  });
});

describe('InputEventDecoder', () => {
  const events: InputEvent[] = [
    { timeMs: 1_000.5, type: EV_KEY, code: KEY_RECORD, value: 1 },
    { timeMs: 1_000.5, type: EV_SYN, code: 0, value: 0 },
    { timeMs: 2_345.678, type: EV_KEY, code: KEY_RECORD, value: 0 },
    { timeMs: 9_999_999_999.999, type: 3, code: 1, value: -42 },
  ];

  for (const size of [16, 24] as const) {
    it(`decodes ${size}-byte records however the stream is cut`, () => {
      const bytes = Buffer.concat(events.map((event) => encodeInputEvent(event, size)));
      // Every split into chunks of 1..bytes.length bytes must give the same events.
      for (const chunkSize of [1, 3, size - 1, size, size + 5, bytes.length]) {
        const decoder = new InputEventDecoder(size);
        const out: InputEvent[] = [];
        for (let offset = 0; offset < bytes.length; offset += chunkSize) {
          decoder.push(bytes.subarray(offset, offset + chunkSize), (event) => out.push(event));
        }
        expect(out.map((e) => [e.type, e.code, e.value])).toEqual(events.map((e) => [e.type, e.code, e.value]));
        out.forEach((event, i) => expect(event.timeMs).toBeCloseTo(events[i]?.timeMs ?? NaN, 3));
        expect(decoder.pendingBytes).toBe(0);
      }
    });
  }

  it('holds a partial record until the rest comes, and forgets it on reset', () => {
    const decoder = new InputEventDecoder(24);
    const record = encodeInputEvent({ timeMs: 5, type: EV_KEY, code: KEY_RECORD, value: 1 }, 24);
    const out: InputEvent[] = [];
    decoder.push(record.subarray(0, 10), (event) => out.push(event));
    expect(out).toEqual([]);
    expect(decoder.pendingBytes).toBe(10);
    decoder.reset();
    decoder.push(record, (event) => out.push(event));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: EV_KEY, code: KEY_RECORD, value: 1 });
  });
});

const PROC_DEVICES = `I: Bus=0019 Vendor=0001 Product=0001 Version=0100
N: Name="button@11"
P: Phys=gpio-keys/input0
S: Sysfs=/devices/platform/button@11/input/input0
U: Uniq=
H: Handlers=kbd event0 
B: PROP=0
B: EV=3
B: KEY=8000000000 0 0

I: Bus=0003 Vendor=0d8c Product=0014 Version=0100
N: Name="C-Media Electronics Inc. USB Audio Device"
P: Phys=usb-xhci-hcd.1-1/input3
S: Sysfs=/devices/platform/axi/1000120000.pcie/1f00200000.usb/xhci-hcd.1/usb3/3-1/3-1:1.3/0003:0D8C:0014.0001/input/input1
U: Uniq=
H: Handlers=kbd event1 
B: PROP=0
B: EV=13
B: KEY=e000000000000 0
B: MSC=10

I: Bus=0019 Vendor=0001 Product=0001 Version=0100
N: Name="button@1a"
P: Phys=gpio-keys/input0
S: Sysfs=/devices/platform/button@1a/input/input2
U: Uniq=
H: Handlers=event2 
B: PROP=0
B: EV=3
B: KEY=1 0 0 0 0
`;

describe('finding the button in /proc/bus/input/devices', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  async function procFile(): Promise<string> {
    dir = await mkdtemp(path.join(tmpdir(), 'scout-proc-'));
    const file = path.join(dir, 'devices');
    await writeFile(file, PROC_DEVICES);
    return file;
  }

  it('parses every block with its name, phys and handlers', () => {
    const devices = parseInputDevices(PROC_DEVICES);
    expect(devices.map((d) => [d.name, d.phys, d.handlers])).toEqual([
      ['button@11', 'gpio-keys/input0', ['kbd', 'event0']],
      ['C-Media Electronics Inc. USB Audio Device', 'usb-xhci-hcd.1-1/input3', ['kbd', 'event1']],
      ['button@1a', 'gpio-keys/input0', ['event2']],
    ]);
  });

  it('reads the key bitmap as the kernel prints it (64-bit words)', () => {
    const [button, usb, btn0] = parseInputDevices(PROC_DEVICES);
    expect(button && deviceHasKey(button, KEY_RECORD)).toBe(true);
    expect(button && deviceHasKey(button, KEY_RECORD + 1)).toBe(false);
    // The USB sound card's volume keys: KEY_MUTE 113, KEY_VOLUMEDOWN 114, KEY_VOLUMEUP 115.
    expect(usb && [113, 114, 115, 116].map((code) => deviceHasKey(usb, code))).toEqual([true, true, true, false]);
    expect(btn0 && deviceHasKey(btn0, BTN_0)).toBe(true);
  });

  it('reads 32-bit words when the kernel is 32-bit', () => {
    // KEY_RECORD = 167 = word 5, bit 7 with 32-bit longs.
    const [device] = parseInputDevices('N: Name="b"\nH: Handlers=event4\nB: KEY=80 0 0 0 0 0\n');
    expect(device && deviceHasKey(device, KEY_RECORD, 32)).toBe(true);
    expect(device && deviceHasKey(device, KEY_RECORD, 64)).toBe(false);
  });

  it('finds the event node by name, by phys prefix and by key code', async () => {
    const proc = await procFile();
    await expect(findInputDevice({ procDevicesPath: proc, match: { name: 'button@11' } })).resolves.toBe('/dev/input/event0');
    await expect(findInputDevice({ procDevicesPath: proc, match: { name: 'button@1a' } })).resolves.toBe('/dev/input/event2');
    await expect(
      findInputDevice({ procDevicesPath: proc, match: { physPrefix: 'gpio-keys/', keyCode: BTN_0 } }),
    ).resolves.toBe('/dev/input/event2');
    await expect(findInputDevice({ procDevicesPath: proc, match: { keyCode: 115 }, devDir: '/tmp/x' })).resolves.toBe('/tmp/x/event1');
  });

  it('answers null when nothing matches', async () => {
    const proc = await procFile();
    await expect(findInputDevice({ procDevicesPath: proc, match: { name: 'scout-button' } })).resolves.toBeNull();
    await expect(findInputDevice({ procDevicesPath: proc, match: { physPrefix: 'usb-', keyCode: KEY_RECORD } })).resolves.toBeNull();
  });
});
