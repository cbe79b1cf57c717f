/**
 * WhisperClient against a local node:http server that answers like whisper-server, badly, or
 * not at all.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  WhisperAbortedError,
  WhisperClient,
  WhisperHttpError,
  WhisperResponseError,
  WhisperTransportError,
  parseVerboseJson,
} from '../../src/transcribe/whisper-client.js';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

interface FakeServer {
  readonly client: WhisperClient;
  /** Requests as received, with their bodies. */
  readonly requests: { method: string; url: string; contentType: string; body: string }[];
  close(): Promise<void>;
}

const servers: FakeServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function fakeServer(handler: Handler): Promise<FakeServer> {
  const requests: FakeServer['requests'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      requests.push({ method: request.method ?? '', url: request.url ?? '', contentType: request.headers['content-type'] ?? '', body });
      handler(request, body, response);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeServer = {
    client: new WhisperClient(`http://127.0.0.1:${port}`),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        // A handler that never answers leaves its socket open: close would wait for it.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(fake);
  return fake;
}

function json(status: number, value: unknown): Handler {
  return (_request, _body, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
}

function text(status: number, body: string): Handler {
  return (_request, _body, response) => {
    response.writeHead(status, { 'content-type': 'text/plain' });
    response.end(body);
  };
}

const NEVER_ANSWERS: Handler = () => undefined;
const WAV = Buffer.from('RIFF....WAVEfmt fake audio');
const REQUEST = { wav: WAV, audioCtx: 314, beamSize: 2, language: 'en' };

describe('WhisperClient.inference', () => {
  it('sends the multipart form whisper-server reads and parses verbose_json into ms segments', async () => {
    const server = await fakeServer(
      json(200, {
        task: 'transcribe',
        text: ' Hello Scout. Buy milk. ',
        segments: [
          { id: 0, text: ' Hello Scout.', start: 0, end: 1.24, tokens: [1, 2] },
          { id: 1, text: ' Buy milk.', start: 1.24, end: 2.5 },
        ],
      }),
    );
    const result = await server.client.inference(REQUEST, { timeoutMs: 5000 });
    expect(result).toEqual({
      text: 'Hello Scout. Buy milk.',
      segments: [
        { startMs: 0, endMs: 1240, text: 'Hello Scout.' },
        { startMs: 1240, endMs: 2500, text: 'Buy milk.' },
      ],
    });
    const [sent] = server.requests;
    expect(sent).toMatchObject({ method: 'POST', url: '/inference' });
    expect(sent?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    for (const [field, value] of [['response_format', 'verbose_json'], ['temperature', '0'], ['token_timestamps', 'false'], ['language', 'en'], ['audio_ctx', '314'], ['beam_size', '2']]) {
      expect(sent?.body).toMatch(new RegExp(`name="${field}"\\r\\n\\r\\n${value}\\r\\n`));
    }
    expect(sent?.body).toContain('filename="clip.wav"');
    expect(sent?.body).toContain(WAV.toString('latin1'));
  });

  it('sends the vocabulary as the `prompt` field, as UTF-8, and no such field when there is none', async () => {
    const server = await fakeServer(json(200, { text: '', segments: [] }));
    await server.client.inference({ ...REQUEST, prompt: 'Zoë Okafor, Kubernetes' });
    await server.client.inference({ ...REQUEST, prompt: '' });
    await server.client.inference(REQUEST);
    const [withPrompt, emptyPrompt, noPrompt] = server.requests;
    // The body was read as latin1: the UTF-8 bytes of "ë" show as two characters.
    expect(withPrompt?.body).toMatch(new RegExp(`name="prompt"\\r\\n\\r\\n${Buffer.from('Zoë Okafor, Kubernetes').toString('latin1')}\\r\\n`));
    expect(emptyPrompt?.body).not.toContain('name="prompt"');
    expect(noPrompt?.body).not.toContain('name="prompt"');
  });

  it.each([
    [400, '{"error":"failed to read WAV file"}', 'failed to read WAV file'],
    [500, 'Internal Server Error', 'Internal Server Error'],
    [503, '{"status":"loading model"}', 'loading model'],
  ])('an HTTP %i is a WhisperHttpError with the status and the reason', async (status, body, reason) => {
    const server = await fakeServer(text(status, body));
    const error: unknown = await server.client.inference(REQUEST).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperHttpError);
    expect((error as WhisperHttpError).status).toBe(status);
    expect((error as WhisperHttpError).body).toBe(body);
    expect((error as Error).message).toContain(reason);
  });

  it.each([
    ['not JSON', '<html>oops</html>', /not JSON: <html>oops/],
    ['truncated JSON', '{"text": "hel', /not JSON/],
    ['a JSON array', '[1, 2]', /not a JSON object/],
    ['no segments', '{"text": "hi"}', /missing text or segments/],
    ['text not a string', '{"text": 5, "segments": []}', /missing text or segments/],
    ['a segment without times', '{"text": "hi", "segments": [{"text": "hi"}]}', /segment 0 needs/],
    ['a segment ending before it starts', '{"text": "hi", "segments": [{"text": "hi", "start": 2, "end": 1}]}', /segment 0 needs/],
    ['a segment that is not an object', '{"text": "hi", "segments": ["hi"]}', /segment 0 is not an object/],
    ['an error field with 200', '{"error": "no audio"}', /server error: no audio/],
  ])('a 200 with %s is a WhisperResponseError', async (_what, body, message) => {
    const server = await fakeServer(text(200, body));
    const error: unknown = await server.client.inference(REQUEST).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperResponseError);
    expect((error as WhisperResponseError).status).toBe(200);
    expect((error as Error).message).toMatch(message);
  });

  it('a server that accepts and never answers is cut off by the timeout', async () => {
    const server = await fakeServer(NEVER_ANSWERS);
    const startedMs = performance.now();
    const error: unknown = await server.client.inference(REQUEST, { timeoutMs: 150 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperAbortedError);
    expect((error as WhisperAbortedError).reason).toBe('timeout');
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(140);
    expect(performance.now() - startedMs).toBeLessThan(2000);
  });

  it('a server that sends headers and then stalls the body is cut off too', async () => {
    const server = await fakeServer((_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"text": ');
    });
    const error: unknown = await server.client.inference(REQUEST, { timeoutMs: 150 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperAbortedError);
    expect((error as WhisperAbortedError).reason).toBe('timeout');
  });

  it("the caller's signal aborts a call that is waiting, reported as aborted, not timeout", async () => {
    const server = await fakeServer(NEVER_ANSWERS);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error: unknown = await server.client.inference(REQUEST, { signal: controller.signal, timeoutMs: 5000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperAbortedError);
    expect((error as WhisperAbortedError).reason).toBe('aborted');
  });

  it('an already aborted signal fails at once without a request', async () => {
    const server = await fakeServer(json(200, { text: '', segments: [] }));
    const error: unknown = await server.client.inference(REQUEST, { signal: AbortSignal.abort() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperAbortedError);
    expect(server.requests).toHaveLength(0);
  });

  it('a connection closed without an answer (the server died) is a WhisperTransportError', async () => {
    const server = await fakeServer((request) => request.socket.destroy());
    const error: unknown = await server.client.inference(REQUEST, { timeoutMs: 5000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperTransportError);
  });

  it('nothing listening is a WhisperTransportError naming the cause', async () => {
    const server = await fakeServer(NEVER_ANSWERS);
    const client = server.client;
    await server.close();
    servers.length = 0;
    const error: unknown = await client.inference(REQUEST, { timeoutMs: 5000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WhisperTransportError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });
});

describe('WhisperClient.health', () => {
  it('is true for {"status":"ok"} and false while the model loads or for garbage', async () => {
    let answer: Handler = json(503, { status: 'loading model' });
    const server = await fakeServer((request, body, response) => answer(request, body, response));
    expect(await server.client.health()).toBe(false);
    answer = text(200, 'ok?');
    expect(await server.client.health()).toBe(false);
    answer = json(200, { status: 'ok' });
    expect(await server.client.health()).toBe(true);
    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual(['GET /health', 'GET /health', 'GET /health']);
  });

  it('throws (transport or timeout) when nothing answers, so a probe can tell "down" from "loading"', async () => {
    const server = await fakeServer(NEVER_ANSWERS);
    await expect(server.client.health({ timeoutMs: 100 })).rejects.toBeInstanceOf(WhisperAbortedError);
  });
});

describe('WhisperClient.load', () => {
  it('posts the model path as a form field and resolves on 200', async () => {
    const server = await fakeServer(text(200, 'Load was successful!'));
    await server.client.load('/models/ggml-tiny.en.bin');
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/load' });
    expect(server.requests[0]?.body).toMatch(/name="model"\r\n\r\n\/models\/ggml-tiny\.en\.bin\r\n/);
  });

  it('a refusal is a WhisperHttpError', async () => {
    const server = await fakeServer(text(400, 'model not found'));
    await expect(server.client.load('/nope.bin')).rejects.toBeInstanceOf(WhisperHttpError);
  });

  it('a server that dies while loading is a WhisperTransportError', async () => {
    const server = await fakeServer((request) => request.socket.destroy());
    await expect(server.client.load('/models/bad.bin', { timeoutMs: 5000 })).rejects.toBeInstanceOf(WhisperTransportError);
  });
});

describe('parseVerboseJson', () => {
  it('trims texts and rounds times to whole ms', () => {
    expect(parseVerboseJson('{"text":" a ","segments":[{"start":0.0004,"end":0.0016,"text":" a "}]}')).toEqual({
      text: 'a',
      segments: [{ startMs: 0, endMs: 2, text: 'a' }],
    });
  });
});
