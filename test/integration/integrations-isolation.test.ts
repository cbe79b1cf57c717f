/**
 * No integration can block or slow capture or the local pipeline. The real service records and
 * transcribes while every sink is broken at once: the MQTT broker frozen (SIGSTOP: connected, but
 * no PUBACK ever comes), a webhook receiver that takes the request and never answers, and a notes
 * folder that cannot be written. Each take is saved whole and transcribed, with no overrun, no
 * capture restart and no event-loop stall; every delivery waits in the outbox with its sink's
 * error shown; and once the receivers are back, everything goes out.
 */
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingCapability } from '../helpers/capability.js';
import { mosquittoMissing, startBroker, type Broker } from '../helpers/mosquitto.js';
import { makeDataDir, removeDataDir, startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const skip = missingCapability('mosquitto', mosquittoMissing());
const HOLD_MS = 3000;
const PRE_ROLL_MS = 500;

interface SinkView {
  readonly sink: string;
  readonly queueLength: number;
  readonly delivered: number;
  readonly lastError: string | null;
}
interface RecordingView {
  readonly id: string;
  readonly status: string;
  readonly durationMs: number | null;
  readonly transcript?: { readonly state: string; readonly text?: string };
}

describe.skipIf(skip)('integrations cannot block capture', () => {
  let broker: Broker;
  let scout: ScoutProcess;
  let dataDir: string;
  let webhookUrl: string;
  let answering = false;
  const hanging: ServerResponse[] = [];
  let answered = 0;
  const receiver = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      if (!answering) {
        hanging.push(response); // taken, never answered
        return;
      }
      answered += 1;
      response.writeHead(200).end('ok');
    });
  });

  const metric = async (name: string): Promise<number> => {
    const body = (await scout.api<string>('/metrics')).body;
    const line = body.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
  };
  const sinks = async (): Promise<SinkView[]> => (await scout.api<{ sinks: SinkView[] }>('/api/integrations')).body.sinks;
  const sink = async (name: string): Promise<SinkView> => {
    const found = (await sinks()).find((view) => view.sink === name || view.sink.startsWith(`${name}:`));
    if (!found) throw new Error(`no ${name} sink`);
    return found;
  };

  beforeAll(async () => {
    broker = await startBroker();
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const address = receiver.address();
    webhookUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hook`;
    dataDir = await makeDataDir();
    await writeFile(join(dataDir, 'webhook-secret'), 'secret\n', { mode: 0o600 });
    // The notes folder's parent is a file: every write fails (ENOTDIR) until it is a folder.
    await writeFile(join(dataDir, 'vault'), 'not a folder');
    scout = await startScout({
      dataDir,
      config: {
        recorder: { preRollMs: PRE_ROLL_MS },
        integrations: {
          mqtt: { url: broker.url, deviceId: 'scout_iso', reconnectMaxMs: 1000 },
          webhooks: [{ url: webhookUrl, secretFile: 'webhook-secret', events: ['transcript', 'recording.started', 'recording.stopped'] }],
          markdown: { dir: 'vault/Scout' },
          retryInitialMs: 200,
          retryMaxMs: 1000,
          deliveryTimeoutMs: 1500,
        },
      },
    });
    await waitFor(async () => (await sink('mqtt')).lastError === null && (await scout.api<{ audio: { state: string } }>('/api/state')).body.audio.state === 'running', 20_000, 100);
  }, 90_000);

  afterAll(async () => {
    broker?.resume();
    await scout?.stop();
    for (const response of hanging) response.destroy();
    receiver.close();
    await broker?.dispose();
    if (dataDir) await removeDataDir(dataDir);
  });

  it('records and transcribes whole takes while the broker is frozen, the webhook hangs and the folder fails; all delivered once they are back', async () => {
    const overrunsBefore = await metric('scout_audio_buffer_overruns_total');
    const restartsBefore = await metric('scout_audio_capture_restarts_total');
    broker.pause();

    const ids: string[] = [];
    for (let take = 0; take < 3; take++) {
      expect(await scout.button('toggle')).toBe(202);
      const id = await waitFor(async () => (await scout.api<{ appliance: { recordingId: string | null } }>('/api/state')).body.appliance.recordingId, 10_000);
      await sleep(HOLD_MS);
      expect(await scout.button('toggle')).toBe(202);
      await waitFor(async () => (await scout.api<{ appliance: { phase: string } }>('/api/state')).body.appliance.phase === 'idle', 10_000);
      ids.push(id);
      await sleep(500);
    }
    // The local pipeline went on: each take saved whole and transcribed, in its usual time.
    for (const id of ids) {
      const done = await waitFor(async () => {
        const view = (await scout.api<RecordingView>(`/api/recordings/${id}`)).body;
        return view.status === 'transcribed' ? view : null;
      }, 30_000, 100);
      expect(done.transcript?.state).toBe('done');
      // At least the hold (the take starts before its id is seen). The pre-roll is not counted
      // on: on a loaded machine the simulated mic's pacing timer fires late, and the frames due
      // since then are not yet in the ring when the stop press lands (CI saw 3300 ms of 3500).
      expect(done.durationMs).toBeGreaterThanOrEqual(HOLD_MS);
      expect(done.durationMs).toBeLessThan(HOLD_MS + PRE_ROLL_MS + 1500);
    }
    expect(await metric('scout_audio_buffer_overruns_total')).toBe(overrunsBefore);
    expect(await metric('scout_audio_capture_restarts_total')).toBe(restartsBefore);
    // The event loop never stalled behind a sink (p99 over the last sample period).
    expect(await metric('scout_event_loop_lag_seconds')).toBeLessThan(0.5);

    // Every sink says what is wrong and keeps its deliveries.
    const stuck = await waitFor(async () => {
      const [mqttView, webhook, markdown] = await Promise.all([sink('mqtt'), sink('webhook'), sink('markdown')]);
      return mqttView.lastError !== null && webhook.lastError !== null && markdown.lastError !== null ? { mqttView, webhook, markdown } : null;
    }, 20_000, 200);
    expect(stuck.webhook.lastError).toMatch(/no answer within 1500 ms/);
    expect(stuck.markdown.lastError).toMatch(/ENOTDIR|not a directory/);
    expect(stuck.webhook.queueLength).toBeGreaterThanOrEqual(ids.length * 3 - 1);
    expect(stuck.markdown.queueLength).toBe(ids.length);
    expect(stuck.mqttView.queueLength).toBeGreaterThan(0);

    // Back: the broker thaws, the receiver answers, the folder becomes a folder. All goes out.
    broker.resume();
    answering = true;
    for (const response of hanging.splice(0)) response.destroy();
    await rm(join(dataDir, 'vault'));
    await mkdir(join(dataDir, 'vault'));
    await waitFor(async () => (await sinks()).every((view) => view.queueLength === 0), 60_000, 250);
    expect(answered).toBeGreaterThanOrEqual(ids.length * 3);
    expect((await sink('markdown')).delivered).toBe(ids.length);
  }, 180_000);
});
