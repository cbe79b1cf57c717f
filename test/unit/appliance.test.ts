import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Appliance } from '../../src/appliance.js';
import { FaultBoard } from '../../src/ops/faults.js';
import { LedPresenter } from '../../src/app/leds.js';
import { LED_PATTERNS } from '../../src/ops/led-language.js';
import { PcmRing } from '../../src/audio/ring-buffer.js';
import { Recorder } from '../../src/audio/recorder.js';
import { FakeLed } from '../../src/hardware/fake-gpio.js';
import { silentLogger } from '../../src/log.js';
import { closeDatabase, openDatabase, type Database } from '../../src/store/db.js';
import { RecordingIdGenerator } from '../../src/store/ids.js';
import { RecordingsRepo } from '../../src/store/recordings.js';

const RATE = 16_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The state machine on real parts (ring, WAV files, SQLite), with the LED presenter on fake LEDs and a hand-fed ring. */
describe('Appliance', () => {
  let dir: string;
  let db: Database;
  let ring: PcmRing;
  let recorder: Recorder;
  let recordings: RecordingsRepo;
  let leds: { status: FakeLed; record: FakeLed };
  let faults: FaultBoard;
  let presenter: LedPresenter | null;
  let freeBytes: number;
  let appliance: Appliance;
  const chunk = new Int16Array(RATE / 50).fill(1000);

  function feed(ms: number): void {
    for (let fed = 0; fed < ms; fed += 20) {
      ring.write(chunk);
      recorder.onCaptureChunk();
    }
  }

  function make(overrides: Partial<ConstructorParameters<typeof Appliance>[0]> = {}): Appliance {
    return new Appliance({
      mode: 'toggle',
      longPressCancelMs: 2000,
      maxDurationMs: 60_000,
      minFreeBytes: 1_000_000,
      sampleRateHz: RATE,
      recorder,
      recordings,
      faults,
      newId: (() => {
        const ids = new RecordingIdGenerator();
        return () => ids.next();
      })(),
      freeBytes: () => Promise.resolve(freeBytes),
      logger: silentLogger(),
      ...overrides,
    });
  }

  /** A started appliance with its LED presenter (the previous pair, if any, stopped first). */
  async function startAppliance(overrides: Partial<ConstructorParameters<typeof Appliance>[0]> = {}): Promise<Appliance> {
    if (presenter) {
      await appliance.stop();
      await presenter.stop();
    }
    const next = make(overrides);
    presenter = new LedPresenter({ leds, appliance: next, faults });
    await presenter.start();
    await next.start();
    return next;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scout-appliance-'));
    db = openDatabase(join(dir, 'scout.db'), silentLogger());
    recordings = new RecordingsRepo(db);
    ring = new PcmRing(RATE * 10);
    recorder = new Recorder({ ring, sampleRateHz: RATE, recordingsDir: dir, preRollMs: 500, flushIntervalMs: 1000, logger: silentLogger() });
    leds = { status: new FakeLed('status'), record: new FakeLed('record') };
    faults = new FaultBoard(silentLogger());
    presenter = null;
    freeBytes = 10_000_000_000;
    appliance = await startAppliance();
    feed(1000);
  });

  afterEach(async () => {
    await appliance.stop();
    await presenter?.stop();
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  it('press to start, press to stop: a recorded row with the pre-roll and the audio in between', async () => {
    appliance.toggle();
    expect(appliance.snapshot().phase).toBe('recording');
    await appliance.settled();
    expect(leds.record.current()).toEqual(LED_PATTERNS.on);
    feed(1000);
    appliance.toggle();
    await appliance.settled();
    const [saved] = recordings.list({ limit: 10 }).items;
    expect(saved?.status).toBe('recorded');
    expect(saved?.preRollMs).toBe(500);
    expect(saved?.durationMs).toBe(1500);
    expect(leds.record.current()).toEqual(LED_PATTERNS.off);
    expect(leds.status.current()).toEqual(LED_PATTERNS.on);
  });

  it('toggle mode: the press that starts a take does not stop it on release', async () => {
    appliance.handleEdge('press', 1000);
    appliance.handleEdge('release', 1300);
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('recording');
  });

  it('toggle mode: holding the press that starts a take past the cancel time keeps the take', async () => {
    appliance = await startAppliance({ longPressCancelMs: 300 });
    appliance.handleEdge('press');
    await sleep(450);
    appliance.handleEdge('release');
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('recording');
    feed(500);
    appliance.toggle();
    await appliance.settled();
    expect(recordings.list({ limit: 10 }).items[0]?.status).toBe('recorded');
  });

  it('toggle mode: a starting press replayed with a long hold keeps the take', async () => {
    appliance.handleEdge('press', 1000);
    appliance.handleEdge('release', 4000);
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('recording');
  });

  it('a press held past the cancel time discards the take and flashes the red LED', async () => {
    appliance.toggle();
    await appliance.settled();
    feed(500);
    appliance.handleEdge('press', 10_000);
    appliance.handleEdge('release', 12_100);
    await appliance.settled();
    expect(recordings.list({ limit: 10 }).total).toBe(0);
    expect((await readdir(dir)).filter((name) => name.endsWith('.wav'))).toEqual([]);
    expect(leds.record.current()).toEqual(LED_PATTERNS.cancelled);
    await sleep(700);
    expect(leds.record.current()).toEqual(LED_PATTERNS.off);
  });

  it('the cancel timer fires while the button is still held', async () => {
    appliance = await startAppliance({ longPressCancelMs: 300 });
    appliance.toggle();
    await appliance.settled();
    appliance.handleEdge('press');
    await sleep(450);
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('idle');
    expect(recordings.list({ limit: 10 }).total).toBe(0);
    appliance.handleEdge('release');
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('idle');
  });

  it('hold mode: recording lasts while the button is held', async () => {
    appliance = await startAppliance({ mode: 'hold' });
    appliance.handleEdge('press');
    await appliance.settled();
    feed(600);
    appliance.handleEdge('release');
    await appliance.settled();
    const [saved] = recordings.list({ limit: 10 }).items;
    expect(saved?.durationMs).toBe(1100);
  });

  it('refuses to record when the disk is nearly full, and says so on the LEDs', async () => {
    freeBytes = 10;
    appliance.toggle();
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('idle');
    expect(faults.messages().join()).toMatch(/disk nearly full/);
    // Code 3 (storage) on the status LED; the red LED stays dark: nothing is being kept.
    expect(leds.status.current()).toEqual(LED_PATTERNS.storage);
    expect(leds.record.current()).toEqual(LED_PATTERNS.off);
    freeBytes = 10_000_000_000;
    appliance.toggle();
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('recording');
    expect(faults.messages()).toEqual([]);
  });

  it('stops by itself at the maximum duration', async () => {
    appliance = await startAppliance({ maxDurationMs: 200 });
    appliance.toggle();
    await appliance.settled();
    await sleep(300);
    await appliance.settled();
    expect(appliance.snapshot().phase).toBe('idle');
    expect(recordings.list({ limit: 10 }).items[0]?.status).toBe('recorded');
  });

  it('degraded faults and background work show on the status LED, error codes win', () => {
    const setBusy = (busy: boolean): void => presenter?.setBusy('transcribing', busy);
    setBusy(true);
    expect(leds.status.current()).toEqual(LED_PATTERNS.busy);
    faults.set('degradation', 'transcription level 1 (light): temperature >= 70 C', 'degraded');
    expect(leds.status.current()).toEqual(LED_PATTERNS.degradedHot);
    faults.set('engine', 'breaker open', 'degraded');
    expect(leds.status.current()).toEqual(LED_PATTERNS.engineDown);
    faults.set('model', 'model missing', 'error');
    expect(leds.status.current()).toEqual(LED_PATTERNS.noModel);
    // Recording still works with a broken model: the red LED says nothing is wrong with it.
    expect(leds.record.current()).toEqual(LED_PATTERNS.off);
    faults.set('model', null);
    faults.set('audio', 'microphone restarting', 'fatal');
    expect(leds.status.current()).toEqual(LED_PATTERNS.noMicrophone);
    expect(leds.record.current()).toEqual(LED_PATTERNS.off);
    faults.set('audio', null);
    faults.set('engine', null);
    faults.set('degradation', null);
    setBusy(false);
    expect(leds.status.current()).toEqual(LED_PATTERNS.on);
  });

  it('stop() while recording saves the take', async () => {
    appliance.toggle();
    await appliance.settled();
    feed(400);
    await appliance.stop();
    expect(recordings.list({ limit: 10 }).items[0]?.status).toBe('recorded');
    expect(leds.status.current()).toEqual(LED_PATTERNS.off);
    await appliance.stop();
  });

  it('records through a database locked by another process, and stores the row once the lock goes', async () => {
    // Found by `npm run faults` (db-locked): a press while another connection held BEGIN EXCLUSIVE
    // past the busy timeout was refused, "not recording: database is locked", and the take lost.
    const busyDb = openDatabase(join(dir, 'scout.db'), silentLogger(), { busyTimeoutMs: 50 });
    const storageErrors: string[] = [];
    try {
      appliance = await startAppliance({ recordings: new RecordingsRepo(busyDb), onStorageError: (op) => storageErrors.push(op) });
      const locker = new BetterSqlite3(join(dir, 'scout.db'));
      locker.exec('BEGIN EXCLUSIVE');
      appliance.toggle();
      await appliance.settled();
      expect(appliance.snapshot().phase).toBe('recording');
      feed(1000);
      appliance.toggle();
      await appliance.settled();
      // Nothing could be written meanwhile; the take's audio is in its file.
      expect(storageErrors).toContain('recording-start');
      expect(recordings.list({ limit: 10 }).items).toEqual([]);
      expect((await readdir(dir)).filter((name) => name.endsWith('.wav'))).toHaveLength(1);

      locker.exec('COMMIT');
      locker.close();
      appliance.retryPendingWrites();
      const [saved] = recordings.list({ limit: 10 }).items;
      expect(saved?.status).toBe('recorded');
      expect(saved?.durationMs).toBe(1500);
    } finally {
      await appliance.stop();
      closeDatabase(busyDb);
    }
  });
});
