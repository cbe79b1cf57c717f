import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { ArecordSource } from './alsa.js';
import { FakeAudioSource } from './fake-audio.js';
import { FakeButton, FakeLed } from './fake-gpio.js';
import { KernelButton, KernelLed } from './gpio-kernel.js';
import { OnoffButton, OnoffLed } from './gpio-onoff.js';
import { findInputDevice } from './input-event.js';
import type { AudioSource, Button, Led } from './types.js';
import { prepareSimClip } from '../sim/clip.js';

/** The only place that decides real or fake hardware, from the config. */
export interface Hardware {
  readonly source: AudioSource;
  readonly button: Button;
  readonly leds: { readonly status: Led; readonly record: Led };
  /** Present in the simulator: lets the API and tests drive the fake parts. */
  readonly fakes: { readonly button?: FakeButton; readonly source?: FakeAudioSource };
}

export async function createHardware(config: Config, logger: Logger): Promise<Hardware> {
  const source = await createAudioSource(config, logger.child({ module: 'audio' }));
  const gpioLog = logger.child({ module: 'gpio' });
  const { gpio } = config;
  switch (gpio.backend) {
    case 'fake': {
      const button = new FakeButton();
      return {
        source: source.source,
        button,
        leds: { status: new FakeLed('status'), record: new FakeLed('record') },
        fakes: { button, ...(source.fake ? { source: source.fake } : {}) },
      };
    }
    case 'kernel': {
      const device =
        gpio.buttonDevicePath ??
        (() => findInputDevice({ procDevicesPath: '/proc/bus/input/devices', devDir: '/dev/input', match: { physPrefix: 'gpio-keys/', keyCode: gpio.buttonKeyCode } }));
      return {
        source: source.source,
        button: new KernelButton({ device, keyCode: gpio.buttonKeyCode, logger: gpioLog }),
        leds: {
          status: new KernelLed({ name: 'status', label: gpio.statusLed, logger: gpioLog }),
          record: new KernelLed({ name: 'record', label: gpio.recordLed, logger: gpioLog }),
        },
        fakes: source.fake ? { source: source.fake } : {},
      };
    }
    case 'onoff':
      return {
        source: source.source,
        button: new OnoffButton({ bcmPin: gpio.onoffButtonPin, logger: gpioLog }),
        leds: {
          status: new OnoffLed({ name: 'status', bcmPin: gpio.onoffStatusLedPin, logger: gpioLog }),
          record: new OnoffLed({ name: 'record', bcmPin: gpio.onoffRecordLedPin, logger: gpioLog }),
        },
        fakes: source.fake ? { source: source.fake } : {},
      };
  }
}

async function createAudioSource(config: Config, logger: Logger): Promise<{ source: AudioSource; fake?: FakeAudioSource }> {
  const { audio } = config;
  const format = { sampleRateHz: audio.sampleRateHz, channels: audio.channels };
  if (audio.backend === 'alsa') {
    return {
      source: new ArecordSource({
        device: audio.device,
        format,
        periodMs: audio.periodMs,
        bufferMs: audio.bufferMs,
        stallTimeoutMs: audio.stallTimeoutMs,
        restart: { initialMs: audio.restartInitialMs, maxMs: audio.restartMaxMs },
        // Capture must win the CPU over the transcriber; needs CAP_SYS_NICE (the unit grants it).
        niceness: -5,
        logger,
      }),
    };
  }
  const clipPath = await prepareSimClip({ sourceWav: audio.simAudioPath, format, cacheDir: join(config.dataDir, 'sim'), logger });
  const fake = await FakeAudioSource.fromWavFile(clipPath, {
    chunkMs: audio.periodMs,
    loop: true,
    restart: { initialMs: audio.restartInitialMs, maxMs: audio.restartMaxMs },
  });
  logger.info({ clipPath, format: fake.format }, 'simulator mic plays a looped clip in real time');
  return { source: fake, fake };
}
