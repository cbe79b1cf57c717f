import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { readWavFile, type DecodedWav } from '../audio/wav.js';
import { ArecordSource } from '../hardware/alsa.js';
import { FakeAudioSource } from '../hardware/fake-audio.js';
import { FakeButton, FakeLed } from '../hardware/fake-gpio.js';
import { KernelButton, KernelLed } from '../hardware/gpio-kernel.js';
import { OnoffButton, OnoffLed } from '../hardware/gpio-onoff.js';
import { findInputDevice } from '../hardware/input-event.js';
import type { AudioSource, Button, Led, PcmFormat } from '../hardware/types.js';
import { prepareSimClip, toneClip } from '../sim/clip.js';

/** The only place that decides real or fake hardware, from the config. */
export interface Hardware {
  readonly source: AudioSource;
  readonly button: Button;
  readonly leds: { readonly status: Led; readonly record: Led };
}

/** ALSA sizes for each arecord spawn (the degradation level's); null = audio.periodMs/bufferMs. */
export type CaptureSettingsSource = (() => { readonly periodMs: number; readonly bufferMs: number }) | null;

export async function createHardware(config: Config, audioLog: Logger, gpioLog: Logger, captureSettings: CaptureSettingsSource = null): Promise<Hardware> {
  const source = await createAudioSource(config, audioLog, captureSettings);
  const { gpio } = config;
  // Every /proc and /sys path under the host root (ops.hostRoot, SCOUT_HOST_ROOT), like the
  // resource monitor's: a person or a test can point the whole service at a scripted tree.
  // (onoff itself still opens /sys/class/gpio/gpioN: its path is not ours to move.)
  const underHost = (path: string): string => join(config.ops.hostRoot, path);
  switch (gpio.backend) {
    case 'fake': {
      return {
        source,
        button: new FakeButton(),
        leds: { status: new FakeLed('status'), record: new FakeLed('record') },
      };
    }
    case 'kernel': {
      const device =
        gpio.buttonDevicePath ??
        (() => findInputDevice({ procDevicesPath: underHost('proc/bus/input/devices'), devDir: '/dev/input', match: { physPrefix: 'gpio-keys/', keyCode: gpio.buttonKeyCode } }));
      return {
        source,
        button: new KernelButton({ device, keyCode: gpio.buttonKeyCode, logger: gpioLog }),
        leds: {
          status: new KernelLed({ name: 'status', label: gpio.statusLed, sysfsRoot: underHost('sys/class/leds'), logger: gpioLog }),
          record: new KernelLed({ name: 'record', label: gpio.recordLed, sysfsRoot: underHost('sys/class/leds'), logger: gpioLog }),
        },
      };
    }
    case 'onoff':
      return {
        source,
        button: new OnoffButton({ bcmPin: gpio.onoffButtonPin, sysfsGpioRoot: underHost('sys/class/gpio'), logger: gpioLog }),
        leds: {
          status: new OnoffLed({ name: 'status', bcmPin: gpio.onoffStatusLedPin, sysfsGpioRoot: underHost('sys/class/gpio'), logger: gpioLog }),
          record: new OnoffLed({ name: 'record', bcmPin: gpio.onoffRecordLedPin, sysfsGpioRoot: underHost('sys/class/gpio'), logger: gpioLog }),
        },
      };
  }
}

async function createAudioSource(config: Config, logger: Logger, captureSettings: CaptureSettingsSource): Promise<AudioSource> {
  const { audio } = config;
  const format = { sampleRateHz: audio.sampleRateHz, channels: audio.channels };
  if (audio.backend === 'alsa') {
    return new ArecordSource({
      device: audio.device,
      format,
      periodMs: audio.periodMs,
      bufferMs: audio.bufferMs,
      ...(captureSettings ? { captureSettings } : {}),
      stallTimeoutMs: audio.stallTimeoutMs,
      restart: { initialMs: audio.restartInitialMs, maxMs: audio.restartMaxMs },
      // Capture must win the CPU over the transcriber; needs CAP_SYS_NICE (the unit grants it).
      niceness: -5,
      logger,
    });
  }
  const { clip, clipPath } = await simulatorClip(audio.simAudioPath, format, join(config.dataDir, 'sim'), logger);
  const fake = new FakeAudioSource({
    format: clip.format,
    clip: clip.samples,
    chunkMs: audio.periodMs,
    loop: true,
    restart: { initialMs: audio.restartInitialMs, maxMs: audio.restartMaxMs },
  });
  logger.info({ clipPath, format: fake.format }, 'simulator mic plays a looped clip in real time');
  return fake;
}

/**
 * Speech for the simulator mic, or a generated tone when no clip can be made (espeak-ng or sox
 * missing, a user's WAV that is no WAV, nowhere to write): the service never fails to start for
 * the want of a demo sentence.
 */
async function simulatorClip(
  sourceWav: string | null,
  format: PcmFormat,
  cacheDir: string,
  logger: Logger,
): Promise<{ readonly clip: DecodedWav; readonly clipPath: string | null }> {
  try {
    const clipPath = await prepareSimClip({ sourceWav, format, cacheDir, logger });
    return { clip: await readWavFile(clipPath), clipPath };
  } catch (error) {
    logger.error({ err: error, sourceWav }, 'simulator mic: cannot make the speech clip; playing a generated tone instead (espeak-ng and sox make speech)');
    return { clip: { format, samples: toneClip(format) }, clipPath: null };
  }
}
