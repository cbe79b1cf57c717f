import makeMdns from 'multicast-dns';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/context.js';
import { Follower, type FollowSource } from '../../src/cli/commands/follow.js';
import { collectServices, emptyGathered, gather, type MdnsPacket } from '../../src/cli/mdns.js';
import { run } from '../../src/cli/program.js';
import { SseParser } from '../../src/cli/sse.js';

describe('the event stream parser', () => {
  it('reads id, event, multi-line data, retry and comments, split anywhere', () => {
    const text = 'retry: 2000\n\n: heartbeat\n\nid: 7\r\nevent: phase\r\ndata: {"a":\r\ndata: 1}\r\n\r\nid: 8\nevent: partial\ndata: {}\n\n';
    for (const size of [1, 3, text.length]) {
      const parser = new SseParser();
      const messages = [];
      for (let i = 0; i < text.length; i += size) messages.push(...parser.feed(text.slice(i, i + size)));
      expect(messages).toEqual([
        { id: '7', event: 'phase', data: '{"a":\n1}' },
        { id: '8', event: 'partial', data: '{}' },
      ]);
      expect(parser.lastEventId).toBe('8');
      expect(parser.retryMs).toBe(2000);
    }
  });
});

describe('follow, in a pipe', () => {
  const source: FollowSource = {
    recording: () => Promise.resolve({ id: 'r1', status: 'recording' }),
    currentRecordingId: () => Promise.resolve(null),
    finalText: () => Promise.resolve('hello world\n'),
  };
  const event = (id: number, kind: string, data: object): { id: string; event: string; data: string } => ({ id: String(id), event: kind, data: JSON.stringify({ kind, ...data }) });

  it('prints each step of the recording it follows, and stops when done with --until-done', async () => {
    let out = '';
    const follower = new Follower({ write: (text) => (out += String(text)) }, 'lines', source, null, true);
    expect((await follower.sync()).stop).toBe(false);
    await follower.handle(event(1, 'phase', { phase: 'recording', recordingId: 'r1' }));
    await follower.handle(event(2, 'recording', { change: 'created', id: 'r1', status: 'recording' }));
    await follower.handle(event(3, 'partial', { recordingId: 'other', seq: 0, text: 'not ours' }));
    await follower.handle(event(4, 'partial', { recordingId: 'r1', seq: 0, text: ' hello' }));
    await follower.handle(event(5, 'recording', { change: 'changed', id: 'r1', status: 'transcribing' }));
    const last = await follower.handle(event(6, 'recording', { change: 'changed', id: 'r1', status: 'transcribed' }));
    expect(last).toEqual({ stop: true, code: 0 });
    expect(out).toBe('r1 recording\nr1 partial: hello\nr1 transcribing\nr1 transcribed\nr1 final: hello world\n');
  });

  it('redraws one line in place on a terminal', async () => {
    let out = '';
    const follower = new Follower({ write: (text) => (out += String(text)), isTTY: true, columns: 40 }, 'tty', { ...source, recording: () => Promise.resolve({ id: 'r1', status: 'recording', transcript: { state: 'partial', text: 'hello there' } }) }, 'r1', true);
    await follower.sync();
    await follower.handle(event(4, 'partial', { recordingId: 'r1', seq: 0, text: 'hello there' }));
    expect(out.split('\r\x1b[2K').filter(Boolean).at(-1)).toBe('r1 recording  hello there');
    expect(out).not.toContain('\n');
  });
});

describe('finding boxes by mDNS', () => {
  // What avahi answers for provisioning/avahi/scout.service, as multicast-dns decodes it.
  const avahiAnswer: MdnsPacket = {
    answers: [{ name: '_http._tcp.local', type: 'PTR', data: 'Scout on kitchen._http._tcp.local' }],
    additionals: [
      { name: 'Scout on kitchen._http._tcp.local', type: 'SRV', data: { target: 'kitchen.local', port: 8080 } },
      { name: 'Scout on kitchen._http._tcp.local', type: 'TXT', data: [Buffer.from('path=/'), Buffer.from('product=scout')] },
      { name: 'kitchen.local', type: 'AAAA', data: 'fe80::1' },
      { name: 'kitchen.local', type: 'A', data: '192.168.1.20' },
    ],
  };
  const printer: MdnsPacket = {
    answers: [{ name: '_http._tcp.local', type: 'PTR', data: 'Printer._http._tcp.local' }],
    additionals: [
      { name: 'Printer._http._tcp.local', type: 'SRV', data: { target: 'printer.local', port: 80 } },
      { name: 'Printer._http._tcp.local', type: 'TXT', data: [Buffer.from('product=LaserJet')] },
    ],
  };

  it('keeps the scout services from recorded responses, IPv4 first, records spread over packets', () => {
    const gathered = emptyGathered();
    gather(gathered, printer);
    gather(gathered, { answers: avahiAnswer.answers ?? [] });
    expect(collectServices(gathered)).toEqual([]);
    gather(gathered, { answers: avahiAnswer.additionals ?? [] });
    expect(collectServices(gathered)).toEqual([
      { name: 'Scout on kitchen', host: 'kitchen.local', addresses: ['192.168.1.20', 'fe80::1'], port: 8080, txt: { path: '/', product: 'scout' }, url: 'http://192.168.1.20:8080' },
    ]);
  });

  describe('with a responder on this machine', () => {
    const responder = makeMdns({ loopback: true });
    const name = `Scout test ${process.pid}._http._tcp.local`;
    beforeAll(() => {
      responder.on('query', (query) => {
        if (!query.questions.some((q) => q.name === '_http._tcp.local' && q.type === 'PTR')) return;
        responder.respond({
          answers: [{ name: '_http._tcp.local', type: 'PTR', data: name }],
          additionals: [
            { name, type: 'SRV', data: { target: 'scout-test.local', port: 18080 } },
            { name, type: 'TXT', data: ['path=/', 'product=scout'] },
            { name: 'scout-test.local', type: 'A', data: '127.0.0.1' },
          ],
        });
      });
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => responder.destroy(() => resolve()));
    });

    it('scout discover --json finds it', async () => {
      let stdout = '';
      const stdin = new PassThrough();
      const io: CliIo = { stdout: { write: (t) => (stdout += String(t)) }, stderr: { write: () => true }, stdin, env: {}, interrupt: new AbortController().signal };
      const code = await run(['discover', '--json', '--timeout', '1.5'], io);
      expect(code).toBe(0);
      const boxes = JSON.parse(stdout) as { name: string; url: string }[];
      expect(boxes).toContainEqual(expect.objectContaining({ name: `Scout test ${process.pid}`, url: 'http://127.0.0.1:18080' }));
    });
  });
});
